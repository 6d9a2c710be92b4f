import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll } from 'vitest';

/** The repository checkout the tests run from. */
export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const shimsDir = path.join(repoRoot, 'shims');
export const cargoShim = path.join(shimsDir, 'cargo');
export const rchBin = path.join(repoRoot, 'bin', 'rch');

// Just under the 180 s testTimeout in vitest.config.ts, so a hung child ends with a readable
// result instead of a vitest timeout, after which the child would run on until the file ends.
const RUN_TIMEOUT_MS = 170_000;
// Time a child gets to exit after SIGTERM before it receives SIGKILL.
const FORCE_KILL_DELAY_MS = 5_000;

export interface RunOptions {
  cwd: string;
  /** The complete environment of the child. Nothing is inherited from the test process. */
  env: NodeJS.ProcessEnv;
  /** Text written to the child's stdin, which is then closed. */
  input?: string;
  /** Default: 170 000 ms. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Undefined when a signal ended the child. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | undefined;
  timedOut: boolean;
  /** Everything the child wrote, byte for byte (no trailing newline is stripped). */
  stdout: string;
  stderr: string;
}

// Process group ids of children that are still running, killed when the test file ends.
const runningGroups = new Set<number>();

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: every process of the group has exited already.
  }
}

function killRunningGroups(): void {
  for (const pgid of runningGroups) killGroup(pgid, 'SIGKILL');
  runningGroups.clear();
}

afterAll(killRunningGroups);
process.on('exit', killRunningGroups);

// Vitest 4.1 ends its forks-pool worker process with SIGTERM, which skips 'exit' handlers. Each handler runs
// once and raises the signal again, so the next listener or the default action still applies.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killRunningGroups();
    process.kill(process.pid, signal);
  });
}

/**
 * Runs a program to completion and captures its output. The child leads its own process group,
 * so a timeout or the end of the test file also kills what it started (cargo, rustc, ssh).
 */
export async function runProgram(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  const subprocess = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
    detached: true,
    timeout: options.timeoutMs ?? RUN_TIMEOUT_MS,
    forceKillAfterDelay: FORCE_KILL_DELAY_MS,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
  });
  const pgid = subprocess.pid;
  if (pgid !== undefined) runningGroups.add(pgid);

  const result = await subprocess;

  if (pgid !== undefined) {
    runningGroups.delete(pgid);
    // Grandchildren that outlived a killed child would otherwise keep running.
    if (result.timedOut || result.isTerminated) killGroup(pgid, 'SIGKILL');
  }
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
  };
}

/** Runs `<repo>/shims/cargo`, the way a user's `cargo` command reaches rch. */
export function runCargo(args: string[], options: RunOptions): Promise<RunResult> {
  return runProgram(cargoShim, args, options);
}

/** Runs `<repo>/bin/rch`. It needs `npm run build` first, which `npm test` does. */
export function runRch(args: string[], options: RunOptions): Promise<RunResult> {
  return runProgram(rchBin, args, options);
}

export type TreeEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface TreeEntry {
  type: TreeEntryType;
  /** Bytes for files and symlinks, and 0 for directories, whose size depends on the file system. */
  size: number;
  /** Permission bits only (`mode & 0o7777`). */
  mode: number;
  mtimeMs: number;
  /** Link text of a symlink. */
  target?: string;
}

function entryType(stats: Awaited<ReturnType<typeof lstat>>): TreeEntryType {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  return 'other';
}

/**
 * Lists every entry under `dir` by relative path (`/`-separated), sorted, without following
 * symlinks. `skip` receives each relative path and leaves out that entry and everything below it.
 */
export async function listTree(
  dir: string,
  options: { skip?: (relativePath: string) => boolean } = {},
): Promise<Map<string, TreeEntry>> {
  const tree = new Map<string, TreeEntry>();

  async function visit(relativeDir: string): Promise<void> {
    const names = (await readdir(path.join(dir, relativeDir))).sort();
    for (const name of names) {
      const relativePath = relativeDir === '' ? name : `${relativeDir}/${name}`;
      if (options.skip?.(relativePath)) continue;

      const absolutePath = path.join(dir, relativePath);
      const stats = await lstat(absolutePath);
      const type = entryType(stats);
      const entry: TreeEntry = {
        type,
        size: type === 'directory' ? 0 : stats.size,
        mode: stats.mode & 0o7777,
        mtimeMs: stats.mtimeMs,
      };
      if (type === 'symlink') entry.target = await readlink(absolutePath);
      tree.set(relativePath, entry);

      if (type === 'directory') await visit(relativePath);
    }
  }

  await visit('');
  return tree;
}
