import type { WorkerConfig } from '../config/types.js';
import type { Admission } from './health-breaker.js';
import type { SlotStatus } from './slot-status.js';
import type { ToolchainRequest } from './toolchain-file.js';
import { hasToolchain, listBlockingProblems, type WorkerCaps } from './worker-caps.js';

/** Facts about a worker that placement reads before connecting to it. */
export interface LocalFacts {
  drained: boolean;
  admission: Admission;
  /** Cached capabilities, when fresh. */
  caps: WorkerCaps | undefined;
}

/** A worker that can take the build, with what its agent reported just now. */
export interface Candidate {
  worker: WorkerConfig;
  /** Slots this build requests on this worker. */
  requested: number;
  slots: SlotStatus;
  caps: WorkerCaps;
  /** The worker has this project from an earlier build, so its sources and target dir are warm. */
  affinity: boolean;
}

/** Returns why the worker cannot take builds before anything is asked of it, or undefined. */
export function findLocalExclusion(worker: WorkerConfig, facts: LocalFacts, localArch: string, toolchain?: ToolchainRequest): string | undefined {
  if (!worker.enabled) return `disabled in workers.toml (rch workers enable ${worker.id})`;
  if (facts.drained) return `drained (rch workers enable ${worker.id})`;
  if (facts.admission === 'skip') return 'its health breaker is open after repeated connection failures (rch status --workers)';
  return facts.caps === undefined ? undefined : findCapsExclusion(facts.caps, localArch, toolchain);
}

/** Returns why the worker's capabilities rule it out for this build, or undefined. */
export function findCapsExclusion(caps: WorkerCaps, localArch: string, toolchain?: ToolchainRequest): string | undefined {
  const problems = listBlockingProblems(caps, localArch);
  if (problems.length > 0) return problems.join('; ');
  if (toolchain !== undefined && !hasToolchain(caps, toolchain.channel) && caps.rustup === null) {
    return `toolchain ${toolchain.channel} (${toolchain.source}) is not installed and the worker has no rustup to install it`;
  }
  return undefined;
}

export function countFreeSlots(candidate: Candidate): number {
  return Math.max(0, candidate.worker.totalSlots - candidate.slots.inUse);
}

/**
 * Orders candidates best first: those with enough free slots now, then higher priority, then
 * the one that has the project already, then the one with the toolchain installed, then more
 * free slots. Worker ids break the remaining ties so that the order is stable.
 */
export function orderCandidates<T extends Candidate>(candidates: T[], toolchain?: ToolchainRequest): T[] {
  const fits = (candidate: T) => (countFreeSlots(candidate) >= candidate.requested ? 1 : 0);
  const ready = (candidate: T) => (toolchain === undefined || hasToolchain(candidate.caps, toolchain.channel) ? 1 : 0);
  return [...candidates].sort(
    (left, right) =>
      fits(right) - fits(left) ||
      right.worker.priority - left.worker.priority ||
      Number(right.affinity) - Number(left.affinity) ||
      ready(right) - ready(left) ||
      countFreeSlots(right) - countFreeSlots(left) ||
      left.worker.id.localeCompare(right.worker.id),
  );
}

/**
 * Picks the full worker to queue on: the fewest waiting builds per slot, then the fewest slots
 * in use per slot, then the order of `candidates`.
 */
export function chooseQueue<T extends Candidate>(candidates: T[]): T | undefined {
  const load = (candidate: Candidate) => [
    candidate.slots.queued / candidate.worker.totalSlots,
    candidate.slots.inUse / candidate.worker.totalSlots,
  ];
  let best: T | undefined;
  for (const candidate of candidates) {
    if (best === undefined) {
      best = candidate;
      continue;
    }
    const [queued, inUse] = load(candidate) as [number, number];
    const [bestQueued, bestInUse] = load(best) as [number, number];
    if (queued < bestQueued || (queued === bestQueued && inUse < bestInUse)) best = candidate;
  }
  return best;
}
