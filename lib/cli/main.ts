import { resolvePaths } from '../config/paths.js';
import { runCargoCommand } from '../build/cargo-command.js';
import { runWorkersCommand } from './workers-command.js';
import { formatError, isRchError } from '../errors.js';

const USAGE = `Usage: rch <command>

Commands:
  workers list [--json]     List the workers in workers.toml
  workers trust ID          Trust the host key a worker presents now
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
    return isRchError(error) && error.kind !== 'internal' ? 1 : 70;
  }
}
