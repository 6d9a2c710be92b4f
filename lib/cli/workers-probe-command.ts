import { probeWorker, type ProbeReport } from '../workers/probe-worker.js';
import { readLocalArch } from '../workers/worker-caps.js';
import { formatBytes, parseCommandArgs, selectWorkers, writeJson, type CommandContext } from './command-args.js';

/**
 * `rch workers probe [ID|--all] [--json]`: reachability, round-trip time and capabilities of
 * each worker, every worker when none is named. An unreachable or unusable worker is reported,
 * not raised, and makes the exit code 1.
 */
export async function runProbeCommand(args: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { all: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 0, max: 1 });
  const workers = await selectWorkers(context, positionals[0], values.all, true);
  const localArch = readLocalArch();
  const reports = await Promise.all(workers.map((worker) => probeWorker(worker, { paths: context.paths, env: context.env, localArch })));

  if (values.json) writeJson(context.stdout, reports);
  else context.stdout.write(reports.map(formatReport).join('\n'));
  return reports.every((report) => report.usable) ? 0 : 1;
}

function formatReport(report: ProbeReport): string {
  if (!report.reachable) {
    const lines = [`${report.id}  unreachable: ${report.error?.message.split('\n')[0] ?? 'unknown error'}`];
    if (report.error?.hint) lines.push(`  hint: ${report.error.hint}`);
    return `${lines.join('\n')}\n`;
  }
  const verdict = report.usable ? 'usable' : `unusable: ${report.problems.join('; ')}`;
  const lines = [`${report.id}  ${report.endpoint}  ${verdict}`, `  connect ${report.connectMs} ms, round trip ${report.rttMs} ms`];
  const caps = report.caps;
  if (caps) {
    const disk = caps.diskFreeBytes === null ? 'free space unknown' : `${formatBytes(caps.diskFreeBytes)} free`;
    lines.push(`  ${caps.arch} ${caps.os} ${caps.kernel}, ${caps.cores} cores, ${formatBytes(caps.memoryBytes)} memory, ${disk} under ${caps.remoteBase}`);
    lines.push(`  ${caps.cargo ?? 'no cargo'}; ${caps.rustc ?? 'no rustc'}; ${caps.rustup ?? 'no rustup'}`);
    const toolchains = caps.toolchains.map((toolchain) => (toolchain.name === caps.defaultToolchain ? `${toolchain.name} (default)` : toolchain.name));
    lines.push(`  toolchains: ${toolchains.join(', ') || 'none'}`);
    lines.push(`  agent: ${report.agent} (this rch ships version ${caps.agentVersion})`);
  }
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}
