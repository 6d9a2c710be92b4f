import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { isTransportFault, RchError } from '../errors.js';
import { readAgentSource } from './agent-source.js';
import { runAgentJson } from './run-agent.js';
import { countsAgainstHealth, recordFailure, recordSuccess } from './health-breaker.js';
import { writeCachedCaps } from './probe-cache.js';
import { listBlockingProblems, listCapacityWarnings, type WorkerCaps } from './worker-caps.js';

/** Commands timed for the round-trip time; the fastest counts. */
const ROUND_TRIPS = 3;
/** Below this much free space under remote_base a probe warns. */
const LOW_DISK_BYTES = 10 * 1024 ** 3;

/** Report of `rch workers probe` about one worker. */
export interface ProbeReport {
  id: string;
  /** `user@host:port` once ~/.ssh/config is applied; null when the connection failed first. */
  endpoint: string | null;
  reachable: boolean;
  /** Reachable, and able to build for this machine. Warnings do not make a worker unusable. */
  usable: boolean;
  /** Milliseconds to connect and authenticate. */
  connectMs: number | null;
  /** Milliseconds for the fastest of three `true` commands over the open connection. */
  rttMs: number | null;
  caps: WorkerCaps | null;
  /** Whether the installed agent is this rch's. Builds install it when it is not. */
  agent: 'current' | 'outdated' | 'missing' | null;
  /** Reasons the worker is unusable. */
  problems: string[];
  warnings: string[];
  error: { code: string; message: string; hint: string | null } | null;
}

/**
 * Connects to the worker, times a few round trips and queries the worker's capabilities with
 * this rch's agent, sent on stdin so that nothing is installed. Connection failures are reported,
 * not thrown, and count against the worker's health breaker. A success closes it.
 */
export async function probeWorker(worker: WorkerConfig, options: { paths: RchPaths; env: NodeJS.ProcessEnv; localArch: string }): Promise<ProbeReport> {
  const report: ProbeReport = {
    id: worker.id,
    endpoint: null,
    reachable: false,
    usable: false,
    connectMs: null,
    rttMs: null,
    caps: null,
    agent: null,
    problems: [],
    warnings: [],
    error: null,
  };
  let connection: SshConnection | undefined;
  try {
    const started = performance.now();
    connection = await connectWorker(worker, { paths: options.paths, env: options.env });
    report.connectMs = Math.round(performance.now() - started);
    report.endpoint = `${connection.target.user}@${connection.target.hostname}:${connection.target.port}`;
    report.reachable = true;
    report.rttMs = await timeRoundTrip(connection);
    const caps = await runAgentJson<WorkerCaps>(connection, worker, ['caps'], { streamed: true });
    report.caps = caps;
    await Promise.all([writeCachedCaps(options.paths, worker, caps), recordSuccess(options.paths, worker)]);
  } catch (error) {
    if (!isTransportFault(error)) throw error;
    const fault = error as RchError;
    report.error = { code: fault.code, message: fault.message, hint: fault.hint ?? null };
    report.problems.push(fault.message.split('\n')[0] ?? fault.message);
    if (countsAgainstHealth(fault)) await recordFailure(options.paths, worker, fault);
    return report;
  } finally {
    connection?.close();
  }

  const caps = report.caps;
  const sha256 = (await readAgentSource()).sha256;
  if (caps.installedAgentSha256 === null) report.agent = 'missing';
  else report.agent = caps.installedAgentSha256 === sha256 ? 'current' : 'outdated';
  report.problems.push(...listBlockingProblems(caps, options.localArch));
  report.warnings.push(...listCapacityWarnings(caps));
  if (caps.diskFreeBytes !== null && caps.diskFreeBytes < LOW_DISK_BYTES) {
    report.warnings.push(`${(caps.diskFreeBytes / 1024 ** 3).toFixed(1)} GiB free under ${caps.remoteBase}`);
  }
  if (report.agent !== 'current') report.warnings.push(`agent ${report.agent}; the next build installs it, or run: rch workers setup ${worker.id}`);
  report.usable = report.problems.length === 0;
  return report;
}

async function timeRoundTrip(connection: SshConnection): Promise<number> {
  let fastest = Infinity;
  for (let round = 0; round < ROUND_TRIPS; round++) {
    const started = performance.now();
    await connection.exec('true');
    fastest = Math.min(fastest, performance.now() - started);
  }
  return Math.round(fastest * 10) / 10;
}
