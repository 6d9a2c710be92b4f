import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createLogger } from '../debug.js';

const log = createLogger('worker-state');

const STATE_VERSION = 1;

/**
 * What one worker holds of one project, as of the last successful sync. The worker keeps a
 * marker file with the same `token`; when the two differ, the worker's copy changed behind
 * rch's back and is reconciled from a listing.
 */
export interface WorkerProjectState {
  version: number;
  token: string;
  /** The worker's `remote_base` with `~` resolved, as the worker reported it. */
  remoteBase: string;
  /** Fingerprint of every file, folder and link the worker holds, by absolute local path. */
  entries: Record<string, string>;
}

/** Derives a stable short key for a project from its workspace root. */
export function projectKeyFor(workspaceRoot: string): string {
  const name = path.basename(workspaceRoot).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40);
  const digest = createHash('sha256').update(workspaceRoot).digest('hex').slice(0, 16);
  return `${name}-${digest}`;
}

/** Derives a key for a worker that changes when its address or base folder changes. */
export function workerKeyFor(worker: { id: string; host: string; port: number | undefined; remoteBase: string }): string {
  const digest = createHash('sha256')
    .update(`${worker.host}\0${worker.port ?? ''}\0${worker.remoteBase}`)
    .digest('hex')
    .slice(0, 12);
  return `${worker.id}-${digest}`;
}

export function newToken(): string {
  return randomBytes(12).toString('hex');
}

export function workerStateFile(stateFolder: string, workerKey: string, projectKey: string): string {
  return path.join(stateFolder, 'workers', workerKey, `${projectKey}.json`);
}

export async function loadWorkerState(file: string): Promise<WorkerProjectState | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as WorkerProjectState;
    if (parsed.version === STATE_VERSION && typeof parsed.token === 'string') return parsed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log('ignoring unreadable state %s: %s', file, error);
  }
  return undefined;
}

export async function saveWorkerState(file: string, state: Omit<WorkerProjectState, 'version'>): Promise<void> {
  await writeFileAtomic(file, JSON.stringify({ version: STATE_VERSION, ...state }), { mode: 0o600 });
}
