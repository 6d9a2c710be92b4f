import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { loadProjectConfig } from '../../lib/config/project.js';
import { readProjectLayout } from '../../lib/sync/cargo-metadata.js';
import { runRemoteBuildViaDaemon } from '../../lib/daemon/client.js';
import { resolveDaemonPaths } from '../../lib/daemon/daemon-paths.js';
import type { RemoteBuildResult } from '../../lib/build/remote-build.js';
import { listTree, type TreeEntry } from '../helpers/run.js';
import { workerCopyOf } from '../helpers/remote-copy.js';

/** The cargo that rustup installed, which the test environments put on PATH after the shim. */
export const REAL_CARGO = '/root/.cargo/bin/cargo';

export interface DaemonBuildOutcome extends RemoteBuildResult {
  stdout: string;
  stderr: string;
}

/** Daemons seen by this test file, killed by its afterAll even when their home is gone by then. */
const seenDaemons = new Set<number>();
/** Environments of this file's builds, whose pid files afterAll reads if they still exist. */
const usedEnvironments = new Set<NodeJS.ProcessEnv>();

/** Reads the pid in the daemon's pid file for this environment, if any. */
export function readDaemonPidFile(env: NodeJS.ProcessEnv): number | undefined {
  const { pidFile } = resolveDaemonPaths(resolvePaths(env), env);
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers the daemon of `env` for the afterAll that kills leftovers, and returns its pid. */
export function trackDaemon(env: NodeJS.ProcessEnv): number | undefined {
  const pid = readDaemonPidFile(env);
  if (pid !== undefined) seenDaemons.add(pid);
  return pid;
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: it has exited already.
  }
}

export function killDaemon(env: NodeJS.ProcessEnv, signal: NodeJS.Signals = 'SIGKILL'): void {
  const pid = trackDaemon(env);
  if (pid !== undefined) signalProcess(pid, signal);
}

afterAll(() => {
  for (const env of usedEnvironments) trackDaemon(env);
  usedEnvironments.clear();
  for (const pid of seenDaemons) signalProcess(pid, 'SIGKILL');
  seenDaemons.clear();
});

/** Builds `cwd` through the daemon of the user whose environment is `env`, as cargo-command would. */
export async function buildViaDaemon(
  env: NodeJS.ProcessEnv,
  cwd: string,
  options: { args?: string[]; signal?: AbortSignal; onStderr?: (text: string) => void } = {},
): Promise<DaemonBuildOutcome> {
  usedEnvironments.add(env);
  const paths = resolvePaths(env);
  const [worker] = await loadWorkers(paths, env);
  if (!worker) throw new Error('buildViaDaemon: workers.toml lists no worker');
  const layout = await readProjectLayout({ realCargo: REAL_CARGO, cwd, env, cargoArgs: [] });
  const project = await loadProjectConfig(cwd, layout.workspaceRoot);
  let stdout = '';
  let stderr = '';
  const args = options.args ?? ['build'];
  const result = await runRemoteBuildViaDaemon({
    worker,
    paths,
    env,
    cwd,
    args,
    subcommandIndex: 0,
    layout,
    project,
    stdout: (chunk) => (stdout += chunk.toString('utf8')),
    stderr: (chunk) => {
      stderr += chunk.toString('utf8');
      options.onStderr?.(stderr);
    },
    signal: options.signal ?? new AbortController().signal,
    terminal: { isTTY: false },
  }).finally(() => trackDaemon(env));
  return { ...result, stdout, stderr };
}

function describeEntry(entry: TreeEntry): string {
  return `${entry.type} size=${entry.size} mode=${entry.mode.toString(8)}${entry.target ? ` -> ${entry.target}` : ''}`;
}

/** Expects the worker's copy of `localRoot` to hold exactly the local tree, byte for byte; target/ and .git/ are never sent. */
export async function expectWorkerCopyMatches(localRoot: string, remoteBase: string): Promise<void> {
  const skip = (relative: string): boolean => ['target', '.git'].some((name) => relative === name || relative.startsWith(`${name}/`));
  const workerRoot = workerCopyOf(remoteBase, localRoot);
  const local = await listTree(localRoot, { skip });
  const remote = await listTree(workerRoot, { skip });
  const shape = (tree: Map<string, TreeEntry>): string[] => [...tree].map(([name, entry]) => `${name}: ${describeEntry(entry)}`);
  expect(shape(remote)).toEqual(shape(local));
  for (const [name, entry] of local) {
    if (entry.type !== 'file') continue;
    const [localBytes, remoteBytes] = await Promise.all([
      fs.readFile(path.join(localRoot, name)),
      fs.readFile(path.join(workerRoot, name)),
    ]);
    expect(remoteBytes.equals(localBytes), `content of ${name}`).toBe(true);
  }
}

/** Waits until `condition` holds, polling every 50 ms, or throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads the daemon log of the user whose environment is `env`. */
export function readDaemonLog(env: NodeJS.ProcessEnv): Promise<string> {
  return fs.readFile(resolveDaemonPaths(resolvePaths(env), env).logFile, 'utf8').catch(() => '');
}
