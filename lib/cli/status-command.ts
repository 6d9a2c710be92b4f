import { readBuildHistory, type BuildRecord } from '../build/build-history.js';
import { loadWorkers } from '../config/workers.js';
import type { WorkerConfig } from '../config/types.js';
import { DaemonClient } from '../daemon/client.js';
import { resolveDaemonPaths } from '../daemon/daemon-paths.js';
import type { DaemonStatus } from '../daemon/daemon-status.js';
import { describeError } from '../errors.js';
import { readDrainMark } from '../workers/fleet-state.js';
import { readHealth, type WorkerHealth } from '../workers/health-breaker.js';
import { querySlotStatus, type SlotStatus } from '../workers/slot-status.js';
import { formatTable, parseCommandArgs, writeJson, type CommandContext } from './command-args.js';
import { runOnWorkers } from './run-on-workers.js';

/** Number of recent builds that `rch status` lists, newest first. */
const RECENT_BUILDS = 10;

interface WorkerStatus {
  id: string;
  priority: number;
  enabled: boolean;
  /** ISO 8601 time of `rch workers drain`, or null. */
  drainedSince: string | null;
  breaker: WorkerHealth;
  /** The worker agent's slot report, or null with `error` when the worker could not be queried. */
  slots: SlotStatus | null;
  error: { code: string; message: string; hint: string | null } | null;
}

type DaemonSummary = ({ running: true } & DaemonStatus) | { running: false; error: string | null };

/**
 * `rch status [--workers] [--json]`: the daemon, each worker's state, health breaker, slots in
 * use and queue as its agent reports them, and the latest builds with where they ran and how
 * long they took. `--workers` shows the workers alone, with the builds holding their slots.
 */
export async function runStatusCommand(args: string[], context: CommandContext): Promise<number> {
  const options = { workers: { type: 'boolean' }, json: { type: 'boolean' } } as const;
  const { values } = parseCommandArgs(args, options, { min: 0, max: 0 });
  const workersOnly = values.workers === true;
  const [daemon, workers, builds] = await Promise.all([
    workersOnly ? undefined : readDaemonSummary(context),
    readWorkerStatuses(context),
    workersOnly ? [] : readBuildHistory(context.paths.state, RECENT_BUILDS),
  ]);

  if (values.json) {
    writeJson(context.stdout, workersOnly ? { workers } : { daemon, workers, builds: [...builds].reverse() });
    return 0;
  }
  const sections = [];
  if (daemon) sections.push(formatDaemon(daemon));
  sections.push(formatWorkers(workers, workersOnly));
  if (!workersOnly) sections.push(formatBuilds(builds));
  context.stdout.write(sections.join('\n'));
  return 0;
}

async function readDaemonSummary(context: CommandContext): Promise<DaemonSummary> {
  try {
    const client = await DaemonClient.connect(resolveDaemonPaths(context.paths, context.env));
    if (client === undefined) return { running: false, error: null };
    return { running: true, ...(await client.status()) };
  } catch (error) {
    return { running: false, error: describeError(error) };
  }
}

async function readWorkerStatuses(context: CommandContext): Promise<WorkerStatus[]> {
  const workers = await loadWorkers(context.paths, context.env);
  // The agent is sent on stdin, so that a worker without `rch workers setup` still reports its slots.
  const outcomes = await runOnWorkers(workers, context, (connection, worker) => querySlotStatus(connection, worker, { streamed: true }));
  return Promise.all(
    workers.map(async (worker: WorkerConfig, index): Promise<WorkerStatus> => {
      const outcome = outcomes[index]!;
      const [drain, breaker] = await Promise.all([readDrainMark(context.paths, worker), readHealth(context.paths, worker)]);
      return {
        id: worker.id,
        priority: worker.priority,
        enabled: worker.enabled,
        drainedSince: drain?.since ?? null,
        breaker,
        slots: outcome.ok ? outcome.result : null,
        error: outcome.ok ? null : outcome.error,
      };
    }),
  );
}

function formatDaemon(daemon: DaemonSummary): string {
  if (!daemon.running) return `daemon: not running${daemon.error ? ` (${daemon.error})` : ''}\n`;
  return `daemon: ${daemon.state}, pid ${daemon.pid}, ${daemon.buildsRunning} builds running, ${daemon.connections.length} connections\n`;
}

function describeState(status: WorkerStatus): string {
  if (!status.enabled) return 'disabled';
  if (status.drainedSince) return 'drained';
  if (status.error) return status.error.code.startsWith('RCH_SSH_') ? 'unreachable' : 'error';
  return 'ready';
}

function formatWorkers(statuses: WorkerStatus[], detailed: boolean): string {
  if (statuses.length === 0) return 'workers: none configured (rch workers add ID --host HOST)\n';
  const rows = [['ID', 'STATE', 'BREAKER', 'SLOTS', 'QUEUED', 'PRIORITY']];
  for (const status of statuses) {
    const slots = status.slots ? `${status.slots.inUse}/${status.slots.total}` : '?';
    const breaker = status.breaker.state === 'closed' ? 'closed' : `${status.breaker.state} (${status.breaker.consecutiveFailures} faults)`;
    rows.push([status.id, describeState(status), breaker, slots, status.slots ? String(status.slots.queued) : '?', String(status.priority)]);
  }
  const lines = [`workers:\n${formatTable(rows)}`];
  const now = Date.now() / 1000;
  for (const status of statuses) {
    if (status.error) lines.push(`  ${status.id}: ${status.error.message.split('\n')[0]}${status.error.hint ? ` (${status.error.hint})` : ''}\n`);
    if (!detailed) continue;
    const failure = status.breaker.lastFailure;
    if (failure) lines.push(`  ${status.id}: last fault ${failure.at}: ${failure.message}\n`);
    for (const slot of status.slots?.busy ?? []) {
      const age = slot.since === null ? '' : ` for ${Math.round(now - slot.since)} s`;
      lines.push(`  ${status.id}: slot ${slot.slot} held by ${slot.label}${age}\n`);
    }
  }
  return lines.join('');
}

function describeWhere(build: BuildRecord): string {
  if (build.outcome === 'remote') return build.worker ?? '?';
  if (build.outcome === 'fallback') return 'local';
  return 'refused';
}

function formatBuilds(builds: BuildRecord[]): string {
  if (builds.length === 0) return 'recent builds: none\n';
  const rows = [['FINISHED', 'WHERE', 'COMMAND', 'EXIT', 'TIME', 'PROJECT']];
  for (const build of [...builds].reverse()) {
    const where = describeWhere(build);
    const seconds = `${(build.durationMs / 1000).toFixed(1)} s`;
    rows.push([build.finishedAt, where, build.subcommand ?? '-', String(build.exitCode), seconds, build.workspaceRoot ?? '-']);
  }
  return `recent builds:\n${formatTable(rows)}`;
}
