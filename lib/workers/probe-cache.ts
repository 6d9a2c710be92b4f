import path from 'node:path';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readStateFile, workerStateFolder } from './fleet-state.js';
import type { WorkerCaps } from './worker-caps.js';

/**
 * How long a build trusts the last probe's capabilities (architecture, toolchains) before it
 * queries the worker again. Slot counts are never cached.
 */
export const PROBE_CACHE_TTL_MS = 10 * 60 * 1000;

interface CachedProbe {
  /** ISO 8601 time of the probe. */
  probedAt: string;
  caps: WorkerCaps;
}

function probeFile(paths: RchPaths, worker: WorkerConfig): string {
  return path.join(workerStateFolder(paths, worker), 'probe.json');
}

/** Returns the cached capabilities when they are younger than PROBE_CACHE_TTL_MS. */
export async function readCachedCaps(paths: RchPaths, worker: WorkerConfig, now = Date.now()): Promise<WorkerCaps | undefined> {
  const cached = await readStateFile<CachedProbe>(probeFile(paths, worker));
  if (cached === undefined || typeof cached.probedAt !== 'string' || typeof cached.caps !== 'object') return undefined;
  const age = now - Date.parse(cached.probedAt);
  return age >= 0 && age < PROBE_CACHE_TTL_MS ? cached.caps : undefined;
}

export async function writeCachedCaps(paths: RchPaths, worker: WorkerConfig, caps: WorkerCaps, now = new Date()): Promise<void> {
  const cached: CachedProbe = { probedAt: now.toISOString(), caps };
  await writeFileAtomic(probeFile(paths, worker), JSON.stringify(cached), { mode: 0o600 });
}

/** Drops the cached capabilities, so that the next build probes the worker again. */
export async function forgetCachedCaps(paths: RchPaths, worker: WorkerConfig): Promise<void> {
  await writeFileAtomic(probeFile(paths, worker), '{}', { mode: 0o600 });
}
