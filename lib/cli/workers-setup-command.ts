import { setupWorker, type SetupReport } from '../workers/setup-worker.js';
import { findToolchainRequest } from '../workers/toolchain-file.js';
import { parseCommandArgs, selectWorkers, writeJson, type CommandContext } from './command-args.js';
import { reportFailures, runOnWorkers } from './run-on-workers.js';

/**
 * `rch workers setup ID|--all [--json]`: installs the worker agent and the current project's
 * rust-toolchain channel and components. Exits 1 when any worker failed.
 */
export async function runSetupCommand(args: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { all: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 0, max: 1 });
  const workers = await selectWorkers(context, positionals[0], values.all);
  const toolchain = await findToolchainRequest(context.cwd ?? process.cwd());
  const outcomes = await runOnWorkers(workers, context, (connection, worker) =>
    setupWorker(connection, worker, { paths: context.paths, toolchain }),
  );

  if (values.json) writeJson(context.stdout, outcomes);
  else {
    for (const outcome of outcomes) if (outcome.ok) context.stdout.write(formatSetup(outcome.result));
    reportFailures(outcomes, context);
  }
  return outcomes.every((outcome) => outcome.ok) ? 0 : 1;
}

function formatSetup(report: SetupReport): string {
  const lines = [`${report.id}: agent ${report.agent === 'installed' ? 'installed' : 'up to date'}`];
  const toolchain = report.toolchain;
  if (toolchain === null) lines.push(`${report.id}: no rust-toolchain file here, so no toolchain to install`);
  else if (toolchain.action === 'present') lines.push(`${report.id}: toolchain ${toolchain.channel} (${toolchain.source}) up to date`);
  else lines.push(`${report.id}: toolchain ${toolchain.channel} (${toolchain.source}) installed with: rustup ${toolchain.rustupArgs!.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
