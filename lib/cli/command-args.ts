import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Writable } from 'node:stream';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { loadWorkers, locateWorkersFile } from '../config/workers.js';
import { RchError } from '../errors.js';

/** Context of every CLI subcommand: folders, environment and output streams. */
export interface CommandContext {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  /** The folder the command runs in, for the project's rust-toolchain file. Default: process.cwd(). */
  cwd?: string;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a subcommand's arguments; a usage error is an RCH_USAGE error that names the problem. */
export function parseCommandArgs<T extends Options>(args: string[], options: T, positionals: { min: number; max: number }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new RchError('RCH_USAGE', (error as Error).message);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new RchError('RCH_USAGE', 'missing argument');
  if (count > positionals.max) throw new RchError('RCH_USAGE', `unexpected argument "${parsed.positionals[positionals.max]}"`);
  return parsed;
}

/** Finds a worker by id, or raises RCH_WORKER_UNKNOWN listing the known ones. */
export function findWorker(workers: WorkerConfig[], id: string, paths: RchPaths): WorkerConfig {
  const worker = workers.find((candidate) => candidate.id === id);
  if (worker !== undefined) return worker;
  const ids = workers.map((candidate) => candidate.id).join(', ');
  const known = workers.length > 0 ? `known workers: ${ids}` : 'no workers are configured';
  throw new RchError('RCH_WORKER_UNKNOWN', `no worker "${id}" in ${locateWorkersFile(paths)} (${known})`, {
    hint: 'run rch workers list to see the configured workers',
  });
}

/**
 * Returns the workers an `ID|--all` command acts on. Without either, `defaultAll` decides whether
 * every worker is meant or the command needs one of them.
 */
export async function selectWorkers(
  context: CommandContext,
  id: string | undefined,
  all: boolean | undefined,
  defaultAll = false,
): Promise<WorkerConfig[]> {
  if (id !== undefined && all) throw new RchError('RCH_USAGE', 'give a worker id or --all, not both');
  if (id === undefined && !all && !defaultAll) throw new RchError('RCH_USAGE', 'give a worker id or --all');
  const workers = await loadWorkers(context.paths, context.env);
  if (id !== undefined) return [findWorker(workers, id, context.paths)];
  if (workers.length === 0) {
    throw new RchError('RCH_NO_WORKERS', `no workers in ${locateWorkersFile(context.paths)}`, {
      hint: 'add one with: rch workers add ID --host HOST',
    });
  }
  return workers;
}

/** Formats rows as columns separated by two spaces, with the header as the first row. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  return `${lines.join('\n')}\n`;
}

export function writeJson(stream: Writable, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Formats a byte count with a binary unit: `512 B`, `3.2 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
