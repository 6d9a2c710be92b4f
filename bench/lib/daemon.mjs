// Drives `rch daemon` for the benchmarks that measure it (P3 with the daemon, P6) through
// `rch daemon start`, `stop` and `status --json`. The status has the daemon's resident memory
// in bytes (`memory.rss`) and a `projects` list whose entries have `workspaceRoot` and a
// `state` that is `watching` once the tree is watched. A project's `readyMs`, if a later
// version reports one, is taken as the watch-ready time.
import { registerCleanup } from './cleanup.mjs';
import { runCommand } from './command.mjs';
import { rchBin } from './worker.mjs';

const DAEMON_COMMAND_TIMEOUT_MS = 30_000;

function runDaemonCommand(env, args) {
  return runCommand(process.execPath, [rchBin, 'daemon', ...args], { cwd: env.HOME, env, timeoutMs: DAEMON_COMMAND_TIMEOUT_MS });
}

/** Resolves with undefined when `rch daemon` exists, else with the reason it cannot be used. */
export async function findDaemonProblem(env) {
  const result = await runDaemonCommand(env, ['--help']);
  const output = `${result.stdout}\n${result.stderr}`;
  if (/unknown command/i.test(output)) return 'no daemon: `rch daemon` is not a command of this build';
  return undefined;
}

/** Starts the daemon for the client HOME of `env` and stops it with the other cleanups. */
export async function startDaemon(env) {
  const result = await runDaemonCommand(env, ['start']);
  if (result.exitCode !== 0) throw new Error(`rch daemon start exited with ${result.exitCode}: ${result.stderr.trim()}`);
  registerCleanup(async () => {
    await runDaemonCommand(env, ['stop']);
  });
}

/** Parses `rch daemon status --json`. */
export async function readDaemonStatus(env) {
  const result = await runDaemonCommand(env, ['status', '--json']);
  if (result.exitCode !== 0) throw new Error(`rch daemon status --json exited with ${result.exitCode}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout);
}

/** Returns the daemon's resident memory in bytes. */
export function readRssBytes(status) {
  const value = status.memory?.rss;
  return typeof value === 'number' ? value : undefined;
}

/** Finds the status entry of the project at `root`, if the daemon watches it. */
export function findProject(status, root) {
  const projects = Array.isArray(status.projects) ? status.projects : [];
  return projects.find((project) => project.workspaceRoot === root);
}

export function isProjectReady(project) {
  return project?.state === 'watching';
}
