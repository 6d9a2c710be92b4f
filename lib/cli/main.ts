import { resolvePaths } from '../config/paths.js';
import { runCargoCommand } from '../build/cargo-command.js';
import { runWorkersCommand } from './workers-command.js';
import { runStatusCommand } from './status-command.js';
import { runDaemonCommand } from './daemon-command.js';
import { formatError, isRchError } from '../errors.js';

const USAGE = `Usage: rch <command>

Commands:
  status [--workers] [--json]
                            Show the daemon, each worker's state, slots and queue, and recent builds
  workers list [--json]     List the workers in workers.toml
  workers add ID --host H   Add a worker to workers.toml (rch workers help lists the options)
  workers remove ID         Remove a worker from workers.toml
  workers trust ID          Trust the host key a worker presents now
  workers probe [ID|--all]  Check reachability, round-trip time, cores, memory and toolchains
  workers setup ID|--all    Install the worker agent and this project's toolchain on a worker
  workers enable|disable ID Let a worker take builds, or not
  workers drain ID          Let running builds finish but send no new ones
  workers gc ID|--all       Remove the least recently built projects beyond the gc limits
  daemon start|stop|restart|status [--json]
                            Manage the rch daemon (watchers and pooled connections)
  help                      Show this text

The cargo shim (shims/cargo) calls \`rch __cargo ARGS...\` for compile subcommands.`;

/** Runs the CLI and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const context = {
    paths: resolvePaths(process.env),
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
  };
  try {
    switch (command) {
      case '__cargo':
        return await runCargoCommand(rest, context);
      case 'workers':
        return await runWorkersCommand(rest, context);
      case 'status':
        return await runStatusCommand(rest, context);
      case 'daemon':
        return await runDaemonCommand(rest, context);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`rch: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    process.stderr.write(`${formatError(error)}\n`);
    if (isRchError(error, 'RCH_USAGE')) return 2;
    return isRchError(error) && error.kind !== 'internal' ? 1 : 70;
  }
}
