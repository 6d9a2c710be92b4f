import fs from 'node:fs/promises';
import path from 'node:path';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { workerKeyFor } from '../sync/worker-state.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * rch's local state about one worker: the cached probe, the health breaker and the drain mark.
 * The folder name changes with the worker's host, port or remote_base, which resets all three.
 */
export function workerStateFolder(paths: RchPaths, worker: WorkerConfig): string {
  return path.join(paths.state, 'fleet', workerKeyFor(worker));
}

/** A drained worker finishes its running builds but gets no new ones from this machine. */
export interface DrainMark {
  /** ISO 8601 time of `rch workers drain`. */
  since: string;
}

function drainFile(paths: RchPaths, worker: WorkerConfig): string {
  return path.join(workerStateFolder(paths, worker), 'drain.json');
}

/** Reads a JSON state file. A missing or unreadable one counts as absent. */
export async function readStateFile<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function readDrainMark(paths: RchPaths, worker: WorkerConfig): Promise<DrainMark | undefined> {
  return readStateFile<DrainMark>(drainFile(paths, worker));
}

/** Marks the worker drained and returns the mark, keeping the time of an earlier drain. */
export async function markDrained(paths: RchPaths, worker: WorkerConfig, now = new Date()): Promise<DrainMark> {
  const existing = await readDrainMark(paths, worker);
  if (existing) return existing;
  const mark = { since: now.toISOString() };
  await writeFileAtomic(drainFile(paths, worker), JSON.stringify(mark), { mode: 0o600 });
  return mark;
}

/** Removes the drain mark and returns whether there was one. */
export async function clearDrainMark(paths: RchPaths, worker: WorkerConfig): Promise<boolean> {
  const existing = await readDrainMark(paths, worker);
  await fs.rm(drainFile(paths, worker), { force: true });
  return existing !== undefined;
}
