import fs from 'node:fs/promises';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import type { SshConnection } from '../ssh/connection.js';
import { workerKeyFor, workerStateFile } from '../sync/worker-state.js';
import { installAgent } from './install-agent.js';
import { runAgentJson } from './run-agent.js';

/** One project that `rch-wkr gc` removed or had to keep. */
export interface GcEntry {
  /** Project key: the folder name and a hash of the workspace root. */
  key: string;
  bytes: number;
  /** Unix time of the project's last build on the worker. */
  lastUsed: number;
  /** `age`: unused for longer than gc_max_age_days; `size`: the projects took more than gc_max_gib. */
  reason: 'age' | 'size';
}

/** Report that `rch-wkr gc` prints. */
export interface GcReport {
  dryRun: boolean;
  /** Bytes all tracked projects took before the run. */
  totalBytes: number;
  freedBytes: number;
  /** Number of tracked projects left on the worker. */
  kept: number;
  removed: GcEntry[];
  /** Projects due for removal whose build was running, so they stayed. */
  busy: GcEntry[];
  /** Projects synced but never built by this agent version, so no record lists their folders. */
  untracked: string[];
}

/**
 * Removes the worker's least recently built projects beyond its gc limits, never one that is
 * building. Then deletes this machine's record of those projects on the worker, so the next
 * build there sends the whole project and placement stops preferring that worker for it.
 */
export async function collectGarbage(
  connection: SshConnection,
  worker: WorkerConfig,
  options: { paths: RchPaths; dryRun: boolean },
): Promise<GcReport> {
  await installAgent(connection, worker);
  const args = ['gc', '--max-bytes', String(worker.gcMaxBytes), '--max-age-days', String(worker.gcMaxAgeDays)];
  const report = await runAgentJson<GcReport>(connection, worker, options.dryRun ? [...args, '--dry-run'] : args);
  if (!options.dryRun) {
    const workerKey = workerKeyFor(worker);
    await Promise.all(report.removed.map(({ key }) => fs.rm(workerStateFile(options.paths.state, workerKey, key), { force: true })));
  }
  return report;
}
