import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';

/** One finished cargo command that went through rch. */
export interface BuildRecord {
  /** ISO 8601 time the build finished. */
  finishedAt: string;
  workspaceRoot: string | undefined;
  subcommand: string | undefined;
  /** `remote` ran on `worker`; `fallback` ran locally because no worker could serve. */
  outcome: 'remote' | 'fallback' | 'refused';
  worker: string | undefined;
  exitCode: number;
  durationMs: number;
  filesSent?: number;
  artifactsPulled?: number;
  /** Why the build did not run remotely. */
  reason?: string;
}

/** The history file is trimmed to the newest records once it grows past this size. */
const HISTORY_MAX_BYTES = 1024 * 1024;
const HISTORY_KEPT_RECORDS = 1000;

export function historyFileFor(stateFolder: string): string {
  return path.join(stateFolder, 'builds.jsonl');
}

/**
 * Appends one record as a single line. One `write` with O_APPEND keeps concurrent builds from
 * interleaving their lines; trimming rewrites the file through a rename.
 */
export async function recordBuild(stateFolder: string, record: BuildRecord): Promise<void> {
  const file = historyFileFor(stateFolder);
  await fs.mkdir(stateFolder, { recursive: true, mode: 0o700 });
  await fs.appendFile(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  const { size } = await fs.stat(file);
  if (size > HISTORY_MAX_BYTES) {
    const lines = (await fs.readFile(file, 'utf8')).trimEnd().split('\n');
    await writeFileAtomic(file, `${lines.slice(-HISTORY_KEPT_RECORDS).join('\n')}\n`, { mode: 0o600 });
  }
}

/** Reads the newest `limit` records, newest last; unreadable lines are skipped. */
export async function readBuildHistory(stateFolder: string, limit: number): Promise<BuildRecord[]> {
  let text: string;
  try {
    text = await fs.readFile(historyFileFor(stateFolder), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records: BuildRecord[] = [];
  for (const line of text.trimEnd().split('\n').slice(-limit)) {
    try {
      records.push(JSON.parse(line) as BuildRecord);
    } catch {
      // A line cut short by a crash is not worth failing over.
    }
  }
  return records;
}
