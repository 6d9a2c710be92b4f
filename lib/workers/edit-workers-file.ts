import fs from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { parse, stringify } from 'smol-toml';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { locateWorkersFile, parseWorkersToml, type FleetConfig } from '../config/workers.js';
import { isRchError, RchError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { acquireFileLock } from '../util/file-lock.js';

// Edits change the text of workers.toml line by line, so that comments and the layout of the
// other entries stay as the user wrote them. Each result is parsed and compared with the
// intended change before it replaces the file.

const EDIT_LOCK_TIMEOUT_MS = 10_000;
const TABLE_HEADER = /^\s*\[/;
const WORKERS_HEADER = /^\s*\[\[\s*workers\s*\]\]\s*(#.*)?$/;
const COMMENT = /^\s*#/;

interface WorkerBlock {
  id: string | undefined;
  /** First line of the block, including the comment lines right above its header. */
  start: number;
  header: number;
  /** One past the last line. */
  end: number;
}

function findWorkerBlocks(lines: string[]): WorkerBlock[] {
  const headers = lines.flatMap((line, index) => (TABLE_HEADER.test(line) ? [index] : []));
  return headers.flatMap((header, position) => {
    if (!WORKERS_HEADER.test(lines[header]!)) return [];
    const end = headers[position + 1] ?? lines.length;
    let start = header;
    while (start > 0 && COMMENT.test(lines[start - 1]!)) start--;
    let id: string | undefined;
    try {
      const parsed = parse(lines.slice(header, end).join('\n')) as { workers?: Array<{ id?: unknown }> };
      const value = parsed.workers?.[0]?.id;
      id = typeof value === 'string' ? value : undefined;
    } catch {
      id = undefined;
    }
    return [{ id, start, header, end }];
  });
}

/**
 * Applies `edit` to workers.toml under a lock and writes the result atomically, after checking
 * with `verify` that the parsed result differs from the old one in exactly the intended way.
 */
async function rewriteWorkersFile(
  paths: RchPaths,
  edit: (text: string, before: FleetConfig) => string,
  verify: (before: FleetConfig, after: FleetConfig) => boolean,
): Promise<FleetConfig> {
  const file = locateWorkersFile(paths);
  const release = await acquireFileLock(`${file}.lock`, { timeoutMs: EDIT_LOCK_TIMEOUT_MS });
  try {
    const stats = await fs.stat(file).catch(() => undefined);
    const text = stats ? await fs.readFile(file, 'utf8') : '';
    const before = parseWorkersToml(text, file, paths.home);
    const edited = edit(text, before);
    let after: FleetConfig;
    try {
      after = parseWorkersToml(edited, file, paths.home);
    } catch (error) {
      if (isRchError(error, 'RCH_CONFIG_INVALID')) throw new RchError('RCH_CONFIG_INVALID', error.message, { hint: 'check the values given on the command line' });
      throw error;
    }
    if (!verify(before, after)) {
      throw new RchError('RCH_CONFIG_EDIT', `cannot change ${file} automatically: its layout is not one [[workers]] table per worker`, {
        hint: `edit ${file} by hand`,
      });
    }
    await writeFileAtomic(file, edited, { mode: stats ? stats.mode & 0o777 : 0o600 });
    return after;
  } finally {
    await release();
  }
}

function sameExcept(before: WorkerConfig[], after: WorkerConfig[], id: string): boolean {
  const others = (workers: WorkerConfig[]) => workers.filter((worker) => worker.id !== id);
  return isDeepStrictEqual(others(before), others(after));
}

function unknownWorker(paths: RchPaths, id: string, config: FleetConfig): RchError {
  const known = config.workers.map((worker) => worker.id).join(', ') || 'none';
  return new RchError('RCH_WORKER_UNKNOWN', `no worker "${id}" in ${locateWorkersFile(paths)} (known workers: ${known})`, {
    hint: 'run rch workers list to see the configured workers',
  });
}

/** Appends a `[[workers]]` table with the given TOML fields (snake_case) and returns the new worker. */
export async function addWorkerEntry(paths: RchPaths, table: Record<string, unknown> & { id: string }): Promise<WorkerConfig> {
  const after = await rewriteWorkersFile(
    paths,
    (text, before) => {
      if (before.workers.some((worker) => worker.id === table.id)) {
        throw new RchError('RCH_CONFIG_EDIT', `worker "${table.id}" already exists in ${locateWorkersFile(paths)}`, {
          hint: `rch workers remove ${table.id}, or choose another id`,
        });
      }
      const separator = text === '' || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
      return `${text}${separator}${stringify({ workers: [table] })}\n`;
    },
    (before, after) => after.workers.length === before.workers.length + 1 && isDeepStrictEqual(after.workers.slice(0, -1), before.workers),
  );
  return after.workers.at(-1)!;
}

/** Removes the worker's `[[workers]]` table, with the comment lines right above it. */
export async function removeWorkerEntry(paths: RchPaths, id: string): Promise<void> {
  await rewriteWorkersFile(
    paths,
    (text, before) => {
      const lines = text.split('\n');
      const block = findWorkerBlocks(lines).find((candidate) => candidate.id === id);
      if (block === undefined) throw unknownWorker(paths, id, before);
      lines.splice(block.start, block.end - block.start);
      return lines.join('\n');
    },
    (before, after) => after.workers.length === before.workers.length - 1 && sameExcept(before.workers, after.workers, id),
  );
}

/** Sets `enabled` in the worker's table, and returns false when it already had that value. */
export async function setWorkerEnabled(paths: RchPaths, id: string, enabled: boolean): Promise<boolean> {
  let changed = false;
  await rewriteWorkersFile(
    paths,
    (text, before) => {
      const lines = text.split('\n');
      const block = findWorkerBlocks(lines).find((candidate) => candidate.id === id);
      if (block === undefined) throw unknownWorker(paths, id, before);
      changed = before.workers.find((worker) => worker.id === id)?.enabled !== enabled;
      if (!changed) return text;
      const line = `enabled = ${enabled}`;
      const existing = lines.findIndex((candidate, index) => index > block.header && index < block.end && /^\s*enabled\s*=/.test(candidate));
      if (existing === -1) lines.splice(block.header + 1, 0, line);
      else lines[existing] = line;
      return lines.join('\n');
    },
    (before, after) =>
      after.workers.length === before.workers.length &&
      sameExcept(before.workers, after.workers, id) &&
      after.workers.find((worker) => worker.id === id)?.enabled === enabled,
  );
  return changed;
}
