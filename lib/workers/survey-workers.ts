import fs from 'node:fs/promises';
import type { RchPaths } from '../config/paths.js';
import type { FleetSettings, WorkerConfig } from '../config/types.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { describeError, isRchError, isTransportFault, RchError } from '../errors.js';
import { workerKeyFor, workerStateFile } from '../sync/worker-state.js';
import { createLogger } from '../debug.js';
import { readAgentSource } from './agent-source.js';
import { installAgent } from './install-agent.js';
import { runAgentJson } from './run-agent.js';
import { readDrainMark } from './fleet-state.js';
import { admitWorker, countsAgainstHealth, recordFailure, recordSuccess } from './health-breaker.js';
import { readCachedCaps, writeCachedCaps } from './probe-cache.js';
import { countRequestedSlots, querySlotStatus, type SlotStatus } from './slot-status.js';
import { findCapsExclusion, findLocalExclusion, orderCandidates, type Candidate } from './placement.js';
import type { ToolchainRequest } from './toolchain-file.js';
import type { WorkerCaps } from './worker-caps.js';

const log = createLogger('placement');

export interface SurveyRequest {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  workers: WorkerConfig[];
  settings: FleetSettings;
  /** Canonical cargo subcommand, for the slot count. */
  subcommand: string | undefined;
  projectKey: string;
  localArch: string;
  toolchain: ToolchainRequest | undefined;
  /** Opens a connection. Default: a new one per worker. */
  connect?: (worker: WorkerConfig) => Promise<SshConnection>;
}

/** A usable worker with the connection the survey opened to it. */
export interface SurveyedCandidate extends Candidate {
  connection: SshConnection;
}

export interface Survey {
  /** Usable workers, best first. */
  candidates: SurveyedCandidate[];
  /** Workers left out, each with the reason. */
  excluded: Array<{ worker: WorkerConfig; reason: string; error?: RchError }>;
}

/**
 * Queries every worker that passes the local filters (enabled, not drained, breaker, cached
 * capabilities) for its capabilities and free slots, in parallel. A worker whose agent is
 * missing or outdated gets this rch's agent first. Connection faults count against the worker's
 * health breaker. The caller closes the candidates' connections.
 */
export async function surveyWorkers(request: SurveyRequest): Promise<Survey> {
  const results = await Promise.all(request.workers.map((worker) => surveyWorker(worker, request)));
  const candidates: SurveyedCandidate[] = [];
  const excluded: Survey['excluded'] = [];
  for (const result of results) {
    if ('connection' in result) candidates.push(result);
    else excluded.push(result);
  }
  return { candidates: orderCandidates(candidates, request.toolchain), excluded };
}

type SurveyResult = SurveyedCandidate | { worker: WorkerConfig; reason: string; error?: RchError };

async function surveyWorker(worker: WorkerConfig, request: SurveyRequest): Promise<SurveyResult> {
  const { paths } = request;
  const [drain, cachedCaps] = await Promise.all([readDrainMark(paths, worker), readCachedCaps(paths, worker)]);
  // Checked last, because a half-open breaker hands out its single trial here.
  const admission = worker.enabled && drain === undefined ? await admitWorker(paths, worker) : 'use';
  const facts = { drained: drain !== undefined, admission, caps: cachedCaps };
  const localReason = findLocalExclusion(worker, facts, request.localArch, request.toolchain);
  if (localReason !== undefined) {
    log('worker %s left out: %s', worker.id, localReason);
    return { worker, reason: localReason };
  }

  let connection: SshConnection | undefined;
  try {
    connection = await (request.connect ?? ((target) => connectWorker(target, { paths, env: request.env })))(worker);
    const current = cachedCaps?.agentSha256 === (await readAgentSource()).sha256;
    let caps = current && cachedCaps ? cachedCaps : await refreshCaps(connection, worker, paths);
    // The worker answered, which ends a half-open trial even when this build cannot use it.
    await recordSuccess(paths, worker);
    const capsReason = findCapsExclusion(caps, request.localArch, request.toolchain);
    if (capsReason !== undefined) {
      connection.close();
      return { worker, reason: capsReason };
    }
    let slots: SlotStatus;
    try {
      slots = await querySlotStatus(connection, worker);
    } catch (error) {
      // The cached capabilities were fresh, but the agent has gone since (remote_base was cleared).
      if (!isRchError(error, 'RCH_AGENT_MISSING') && !isRchError(error, 'RCH_AGENT')) throw error;
      caps = await refreshCaps(connection, worker, paths);
      slots = await querySlotStatus(connection, worker);
    }
    const affinity = await fs
      .access(workerStateFile(paths.state, workerKeyFor(worker), request.projectKey))
      .then(() => true, () => false);
    const requested = countRequestedSlots(request.subcommand, request.settings, worker);
    log('worker %s: %d of %d slots in use, %d queued, affinity %s', worker.id, slots.inUse, slots.total, slots.queued, affinity);
    return { worker, connection, caps, slots, affinity, requested };
  } catch (error) {
    connection?.close();
    if (!isTransportFault(error)) throw error;
    if (countsAgainstHealth(error)) await recordFailure(paths, worker, error as RchError);
    log('worker %s left out: %s', worker.id, error);
    return { worker, reason: describeError(error), error: error as RchError };
  }
}

/**
 * Queries the installed agent for the worker's capabilities and caches them. An agent that is
 * missing or differs from this rch's is replaced first.
 */
async function refreshCaps(connection: SshConnection, worker: WorkerConfig, paths: RchPaths): Promise<WorkerCaps> {
  const source = await readAgentSource();
  let caps: WorkerCaps | undefined;
  try {
    caps = await runAgentJson<WorkerCaps>(connection, worker, ['caps']);
  } catch (error) {
    if (!isRchError(error, 'RCH_AGENT_MISSING') && !isRchError(error, 'RCH_AGENT')) throw error;
    log('worker %s: agent unusable (%s), installing it', worker.id, error);
  }
  if (caps === undefined || caps.agentSha256 !== source.sha256) {
    await installAgent(connection, worker);
    caps = await runAgentJson<WorkerCaps>(connection, worker, ['caps']);
  }
  await writeCachedCaps(paths, worker, caps);
  return caps;
}
