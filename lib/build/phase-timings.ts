import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/**
 * Phase timings and transfer counts of one rch process, printed as one JSON line on stderr at
 * exit when `RCH_TIMINGS=1`. The benchmarks in bench/ read that line. When the variable is
 * not set, recording costs one lookup and nothing is printed.
 *
 * The line: `{"rchTimings":{"phasesMs":{"sync":12.5,…,"process":480.1},"counts":{"syncFiles":1,…}}}`.
 * A phase recorded twice (a sync repeated after a stale worker copy) adds up. `process` is the
 * time from the start of Node to the exit.
 *
 * A process that runs builds for others, such as the daemon, wraps each build in
 * captureTimings and sends the result to the client, which adds it with mergeTimings.
 */
export interface PhaseTimings {
  /** Milliseconds by phase name. */
  phasesMs: Record<string, number>;
  /** Files and bytes by counter name. */
  counts: Record<string, number>;
}

const processTimings: PhaseTimings = { phasesMs: {}, counts: {} };
const capturedTimings = new AsyncLocalStorage<PhaseTimings>();
let reportInstalled = false;

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function installReport(): void {
  if (reportInstalled) return;
  reportInstalled = true;
  process.on('exit', () => {
    const phasesMs = { ...processTimings.phasesMs, process: round(performance.now()) };
    process.stderr.write(`${JSON.stringify({ rchTimings: { phasesMs, counts: processTimings.counts } })}\n`);
  });
}

/** The record that a recording goes to: the captured build's, else the process's when `RCH_TIMINGS=1`. */
function currentTimings(): PhaseTimings | undefined {
  const captured = capturedTimings.getStore();
  if (captured) return captured;
  if (process.env.RCH_TIMINGS !== '1') return undefined;
  installReport();
  return processTimings;
}

/** Adds `ms` to the phase `name`. */
export function recordPhase(name: string, ms: number): void {
  const timings = currentTimings();
  if (timings) timings.phasesMs[name] = round((timings.phasesMs[name] ?? 0) + ms);
}

/** Adds `value` to the counter `name` (files, bytes). */
export function recordCount(name: string, value: number): void {
  const timings = currentTimings();
  if (timings) timings.counts[name] = (timings.counts[name] ?? 0) + value;
}

/** Runs `work` and records its duration as the phase `name`, whether it resolves or rejects. */
export async function timePhase<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    recordPhase(name, performance.now() - started);
  }
}

/** Runs `work` with its own timing record, whatever `RCH_TIMINGS` says, and returns both. */
export async function captureTimings<T>(work: () => Promise<T>): Promise<{ value: T; timings: PhaseTimings }> {
  const timings: PhaseTimings = { phasesMs: {}, counts: {} };
  const value = await capturedTimings.run(timings, work);
  return { value, timings };
}

/** Adds timings captured elsewhere (in the daemon) to this process's record. */
export function mergeTimings(timings: PhaseTimings): void {
  for (const [name, ms] of Object.entries(timings.phasesMs)) recordPhase(name, ms);
  for (const [name, value] of Object.entries(timings.counts)) recordCount(name, value);
}
