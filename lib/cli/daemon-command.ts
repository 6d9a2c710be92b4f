import type { Writable } from 'node:stream';
import type { RchPaths } from '../config/paths.js';
import { DaemonClient, ensureDaemon } from '../daemon/client.js';
import { resolveDaemonPaths } from '../daemon/daemon-paths.js';
import type { DaemonStatus } from '../daemon/daemon-status.js';
import { runDaemon } from '../daemon/run-daemon.js';
import { RchError } from '../errors.js';

export interface DaemonCommandContext {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
}

/** Exit code of `rch daemon status` when no daemon runs, as in the LSB init script convention. */
const EXIT_NOT_RUNNING = 3;

const USAGE = `usage: rch daemon <subcommand>

subcommands:
  start            start the daemon in the background unless it runs already
  stop             stop the daemon and wait until it has exited
  restart          stop the daemon, then start a new one
  status [--json]  show the daemon's pid, socket, watched projects, connections and memory
  run              run the daemon in the foreground (what \`start\` runs in the background)

RCH_DAEMON_IDLE_SECONDS sets how long the daemon waits for a client before it exits (default 1800).
RCH_NO_DAEMON=1 makes builds skip the daemon.
`;

/** Runs `rch daemon ARGS` and returns the exit code. Daemon errors are thrown as RchErrors. */
export async function runDaemonCommand(args: string[], context: DaemonCommandContext): Promise<number> {
  const [subcommand, ...rest] = args;
  const daemonPaths = resolveDaemonPaths(context.paths, context.env);
  const noArguments = rest.length === 0;
  if (subcommand === 'run' && noArguments) return runDaemon(context.paths, context.env);
  if (subcommand === 'start' && noArguments) return startCommand(context);
  if (subcommand === 'stop' && noArguments) {
    const client = await DaemonClient.connect(daemonPaths);
    if (!client) {
      context.stdout.write(`rch daemon: not running (socket ${daemonPaths.socket})\n`);
      return 0;
    }
    await client.stop();
    context.stdout.write(`rch daemon: stopped pid ${client.pid}\n`);
    return 0;
  }
  if (subcommand === 'restart' && noArguments) {
    await (await DaemonClient.connect(daemonPaths))?.stop();
    return startCommand(context);
  }
  if (subcommand === 'status' && (noArguments || (rest.length === 1 && rest[0] === '--json'))) {
    const json = rest[0] === '--json';
    const client = await DaemonClient.connect(daemonPaths);
    if (!client) {
      if (json) context.stdout.write(`${JSON.stringify({ running: false, socket: daemonPaths.socket }, null, 2)}\n`);
      else context.stdout.write(`rch daemon: not running (socket ${daemonPaths.socket})\n`);
      return EXIT_NOT_RUNNING;
    }
    const status = await client.status();
    context.stdout.write(json ? `${JSON.stringify({ running: true, ...status }, null, 2)}\n` : formatStatus(status));
    return 0;
  }
  if (subcommand === 'help' || subcommand === '--help' || subcommand === '-h') {
    context.stdout.write(USAGE);
    return 0;
  }

  const known = ['start', 'stop', 'restart', 'status', 'run'];
  const problem =
    subcommand === undefined
      ? 'missing subcommand'
      : known.includes(subcommand)
        ? `invalid arguments for "${subcommand}": ${rest.join(' ')}`
        : `unknown subcommand "${subcommand}"`;
  context.stderr.write(`rch daemon: ${problem}\n${USAGE}`);
  return 2;
}

async function startCommand(context: DaemonCommandContext): Promise<number> {
  let failure: unknown;
  const client = await ensureDaemon(context.paths, { ...context.env, RCH_NO_DAEMON: undefined }, { onUnavailable: (error) => (failure = error) });
  if (!client) {
    if (failure instanceof RchError) throw failure;
    throw new RchError('RCH_DAEMON_UNAVAILABLE', `the rch daemon did not start: ${String(failure)}`);
  }
  context.stdout.write(`rch daemon: running as pid ${client.pid} (socket ${client.daemonPaths.socket})\n`);
  return 0;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function formatStatus(status: DaemonStatus): string {
  const lines = [
    `rch daemon: ${status.state}, pid ${status.pid}, up ${status.uptimeSeconds} s, exits after ${status.idleExitSeconds} s without clients`,
    `socket: ${status.socket}`,
    `log: ${status.logFile}`,
    `memory: rss ${mebibytes(status.memory.rss)}, heap used ${mebibytes(status.memory.heapUsed)}`,
    `builds: ${status.buildsRunning} running, ${status.buildsServed} finished`,
    `projects: ${status.projects.length === 0 ? 'none' : ''}`,
    ...status.projects.map(
      (project) =>
        `  ${project.workspaceRoot}  ${project.state}, ${project.files} files, ${project.folders} folders, ${project.watches} watches, idle ${project.idleSeconds} s`,
    ),
    `connections: ${status.connections.length === 0 ? 'none' : ''}`,
    ...status.connections.map(
      (connection) =>
        `  ${connection.worker}  ${connection.endpoint}  ${connection.state}, ${connection.leases} leases, idle ${connection.idleSeconds} s`,
    ),
  ];
  return `${lines.map((line) => line.trimEnd()).join('\n')}\n`;
}
