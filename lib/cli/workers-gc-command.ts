import { collectGarbage, type GcReport } from '../workers/collect-garbage.js';
import { formatBytes, parseCommandArgs, selectWorkers, writeJson, type CommandContext } from './command-args.js';
import { reportFailures, runOnWorkers } from './run-on-workers.js';

/**
 * `rch workers gc ID|--all [--dry-run] [--json]`: removes the least recently built projects
 * beyond each worker's gc_max_gib and gc_max_age_days. Exits 1 when any worker failed.
 */
export async function runGcCommand(args: string[], context: CommandContext): Promise<number> {
  const options = { all: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } } as const;
  const { values, positionals } = parseCommandArgs(args, options, { min: 0, max: 1 });
  const workers = await selectWorkers(context, positionals[0], values.all);
  const dryRun = values['dry-run'] === true;
  const outcomes = await runOnWorkers(workers, context, (connection, worker) =>
    collectGarbage(connection, worker, { paths: context.paths, dryRun }),
  );

  if (values.json) writeJson(context.stdout, outcomes);
  else {
    for (const outcome of outcomes) if (outcome.ok) context.stdout.write(formatGc(outcome.id, outcome.result));
    reportFailures(outcomes, context);
  }
  return outcomes.every((outcome) => outcome.ok) ? 0 : 1;
}

function formatGc(id: string, report: GcReport): string {
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = [
    `${id}: ${verb} ${report.removed.length} projects (${formatBytes(report.freedBytes)} of ${formatBytes(report.totalBytes)}), kept ${report.kept}`,
  ];
  const now = Date.now() / 1000;
  for (const entry of report.removed) {
    const days = Math.floor((now - entry.lastUsed) / 86_400);
    lines.push(`  ${entry.key}  ${formatBytes(entry.bytes)}  last built ${days} days ago  (${entry.reason === 'age' ? 'too old' : 'over the size limit'})`);
  }
  for (const entry of report.busy) lines.push(`  ${entry.key}  kept: a build is running`);
  if (report.untracked.length > 0) {
    lines.push(`  ${report.untracked.length} projects synced but never built by this version are left alone: ${report.untracked.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
