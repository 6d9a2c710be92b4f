import path from 'node:path';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { isRchError, RchError, type RchErrorCode } from '../errors.js';
import { acquireFileLock } from '../util/file-lock.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createLogger } from '../debug.js';
import { readStateFile, workerStateFolder } from './fleet-state.js';

const log = createLogger('breaker');

/**
 * Health breaker per worker. `closed`: builds go there. `open`: after BREAKER_FAILURE_THRESHOLD
 * transport faults in a row no build goes there for BREAKER_COOL_DOWN_MS. `half-open`: the
 * cool-down is over and one build is trying the worker; its outcome closes or reopens the breaker.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export const BREAKER_FAILURE_THRESHOLD = 3;
export const BREAKER_COOL_DOWN_MS = 60_000;
/** A trial that reported nothing for this long (its process died) lets another build try. */
const TRIAL_TIMEOUT_MS = 60_000;
const STATE_LOCK_TIMEOUT_MS = 5_000;

export interface WorkerHealth {
  state: BreakerState;
  /** Transport faults since the last success. */
  consecutiveFailures: number;
  /** ISO 8601 time the breaker last opened. */
  openedAt?: string;
  /** ISO 8601 time the trial of a half-open breaker started. */
  trialStartedAt?: string;
  lastFailure?: { at: string; code: string; message: string };
  lastSuccessAt?: string;
}

/** Placement's decision for a worker: build there, try it once as the half-open trial, or skip it. */
export type Admission = 'use' | 'trial' | 'skip';

/** Faults that show the worker or the path to it is unwell. Host key and login problems need the user to act instead. */
const HEALTH_FAULT_CODES = new Set<RchErrorCode>([
  'RCH_SSH_CONNECT',
  'RCH_SSH_TIMEOUT',
  'RCH_SSH_CHANNEL',
  'RCH_SYNC',
  'RCH_REMOTE_COMMAND',
  'RCH_ARTIFACTS',
  'RCH_ARTIFACT_UNSAFE',
  'RCH_AGENT',
]);

export function countsAgainstHealth(error: unknown): boolean {
  return error instanceof RchError && HEALTH_FAULT_CODES.has(error.code);
}

function healthFile(paths: RchPaths, worker: WorkerConfig): string {
  return path.join(workerStateFolder(paths, worker), 'health.json');
}

export async function readHealth(paths: RchPaths, worker: WorkerConfig): Promise<WorkerHealth> {
  return (await readStateFile<WorkerHealth>(healthFile(paths, worker))) ?? { state: 'closed', consecutiveFailures: 0 };
}

/**
 * Reads, changes and writes the health file under a lock, so that concurrent builds lose no
 * update. When the lock stays taken past STATE_LOCK_TIMEOUT_MS, the change is skipped and
 * `fallback` returned, so that a busy lock does not fail the build.
 */
async function updateHealth<T>(
  paths: RchPaths,
  worker: WorkerConfig,
  change: (health: WorkerHealth) => { next?: WorkerHealth; result: T },
  fallback: T,
): Promise<T> {
  const file = healthFile(paths, worker);
  let release: () => Promise<void>;
  try {
    release = await acquireFileLock(`${file}.lock`, { timeoutMs: STATE_LOCK_TIMEOUT_MS });
  } catch (error) {
    if (!isRchError(error, 'RCH_LOCK')) throw error;
    log('worker %s: health state left unchanged: %s', worker.id, error.message);
    return fallback;
  }
  try {
    const { next, result } = change(await readHealth(paths, worker));
    if (next) await writeFileAtomic(file, JSON.stringify(next), { mode: 0o600 });
    return result;
  } finally {
    await release();
  }
}

/** Decides whether a build may use the worker now. The first caller after the cool-down gets the trial. */
export async function admitWorker(paths: RchPaths, worker: WorkerConfig, now = Date.now()): Promise<Admission> {
  // The common case needs no lock: a closed breaker admits every build.
  if ((await readHealth(paths, worker)).state === 'closed') return 'use';
  return updateHealth<Admission>(paths, worker, (health) => {
    if (health.state === 'closed') return { result: 'use' };
    const since = Date.parse((health.state === 'open' ? health.openedAt : health.trialStartedAt) ?? '');
    const wait = health.state === 'open' ? BREAKER_COOL_DOWN_MS : TRIAL_TIMEOUT_MS;
    if (Number.isFinite(since) && now - since < wait) return { result: 'skip' };
    log('worker %s: breaker half-open, trying it once', worker.id);
    return { next: { ...health, state: 'half-open', trialStartedAt: new Date(now).toISOString() }, result: 'trial' };
  }, 'use');
}

/** Counts a transport fault. The breaker opens at the threshold, or at once when the trial failed. */
export async function recordFailure(paths: RchPaths, worker: WorkerConfig, error: RchError, now = Date.now()): Promise<WorkerHealth> {
  return updateHealth(paths, worker, (health) => {
    const failures = health.consecutiveFailures + 1;
    const opens = health.state === 'half-open' || failures >= BREAKER_FAILURE_THRESHOLD;
    const at = new Date(now).toISOString();
    const next: WorkerHealth = {
      ...health,
      state: opens ? 'open' : health.state,
      consecutiveFailures: failures,
      openedAt: opens ? at : health.openedAt,
      lastFailure: { at, code: error.code, message: error.message.split('\n')[0] ?? error.message },
    };
    if (opens && health.state !== 'open') log('worker %s: breaker open after %d faults: %s', worker.id, failures, error.message);
    return { next, result: next };
  }, await readHealth(paths, worker));
}

/** Closes the breaker after a successful connection, and writes nothing when it is closed and clean. */
export async function recordSuccess(paths: RchPaths, worker: WorkerConfig, now = Date.now()): Promise<void> {
  const current = await readHealth(paths, worker);
  if (current.state === 'closed' && current.consecutiveFailures === 0) return;
  await updateHealth(paths, worker, (health) => {
    if (health.state !== 'closed') log('worker %s: breaker closed', worker.id);
    return { next: { ...health, state: 'closed', consecutiveFailures: 0, lastSuccessAt: new Date(now).toISOString() }, result: undefined };
  }, undefined);
}
