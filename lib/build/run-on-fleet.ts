import type { FleetSettings, WorkerConfig } from '../config/types.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { describeError, isRchError, isTransportFault, RchError } from '../errors.js';
import { projectKeyFor } from '../sync/worker-state.js';
import { surveyWorkers, type Survey, type SurveyedCandidate } from '../workers/survey-workers.js';
import { chooseQueue, countFreeSlots } from '../workers/placement.js';
import { countsAgainstHealth, recordFailure } from '../workers/health-breaker.js';
import { forgetCachedCaps } from '../workers/probe-cache.js';
import { readLocalArch } from '../workers/worker-caps.js';
import type { ToolchainRequest } from '../workers/toolchain-file.js';
import { runRemoteBuild, type RemoteBuildRequest, type RemoteBuildResult } from './remote-build.js';
import { createLogger } from '../debug.js';

const log = createLogger('fleet');

/** Transport faults after which a build stops moving to the next worker and falls back. */
export const MAX_TRANSPORT_FAULTS = 3;

export interface FleetBuildRequest {
  /** Everything one remote build needs except the worker, its connection and its slots. */
  build: Omit<RemoteBuildRequest, 'worker' | 'slots' | 'connect'>;
  /** Every worker of workers.toml; placement filters them. */
  workers: WorkerConfig[];
  settings: FleetSettings;
  /** Canonical cargo subcommand. */
  subcommand: string | undefined;
  /** `RCH_WORKER`: the one worker this build may use. */
  pinnedWorkerId: string | undefined;
  toolchain: ToolchainRequest | undefined;
  /** Writes one `rch:` line to stderr. */
  notice: (message: string) => void;
  connect?: (worker: WorkerConfig) => Promise<SshConnection>;
  /** Runs one build on one worker; the daemon's client fits. Default: runRemoteBuild in this process. */
  runBuild?: (request: RemoteBuildRequest) => Promise<RemoteBuildResult>;
}

export type FleetBuildOutcome =
  | { status: 'built'; worker: WorkerConfig; result: RemoteBuildResult }
  | { status: 'unavailable'; reason: string; hint: string | undefined };

type Attempt = FleetBuildOutcome | { status: 'busy' } | { status: 'fault'; error: RchError };

/**
 * Places a build on the best usable worker and moves it on after transport faults: the next
 * worker gets a fresh sync and a new run, up to MAX_TRANSPORT_FAULTS. When every usable worker
 * is full, the build waits on the least loaded one for up to queue_timeout_secs. Cargo's own
 * failures (compile errors, failing tests) are results and never retried.
 */
export async function runOnFleet(request: FleetBuildRequest): Promise<FleetBuildOutcome> {
  const { build } = request;
  let workers = request.workers;
  if (request.pinnedWorkerId !== undefined) {
    workers = workers.filter((worker) => worker.id === request.pinnedWorkerId);
    if (workers.length === 0) {
      const known = request.workers.map((worker) => worker.id).join(', ') || 'none';
      return unavailable(`RCH_WORKER=${request.pinnedWorkerId} names no worker in workers.toml (known: ${known})`, 'rch workers list');
    }
  }

  const survey = await surveyWorkers({
    paths: build.paths,
    env: build.env,
    workers,
    settings: request.settings,
    subcommand: request.subcommand,
    projectKey: projectKeyFor(build.layout.workspaceRoot),
    localArch: readLocalArch(),
    toolchain: request.toolchain,
    connect: request.connect,
  });
  try {
    if (survey.candidates.length === 0) return describeExclusions(survey, request);
    return await placeBuild(survey.candidates, request);
  } finally {
    for (const candidate of survey.candidates) candidate.connection.close();
  }
}

async function placeBuild(candidates: SurveyedCandidate[], request: FleetBuildRequest): Promise<FleetBuildOutcome> {
  const deadline = Date.now() + request.settings.queueTimeoutSecs * 1000;
  const aborted = () => request.build.signal.aborted;
  const full: SurveyedCandidate[] = [];
  let faults = 0;
  let lastFault: RchError | undefined;
  const onFault = (candidate: SurveyedCandidate, error: RchError, remaining: number) => {
    faults += 1;
    lastFault = error;
    if (remaining > 0 && faults < MAX_TRANSPORT_FAULTS && !aborted()) {
      request.notice(`worker "${candidate.worker.id}" failed (${describeError(error)}); trying another worker`);
    }
  };

  for (const [index, candidate] of candidates.entries()) {
    if (aborted() || faults >= MAX_TRANSPORT_FAULTS) break;
    // The slot count is advisory: another client may take the last slots first, which `busy` reports.
    const outcome = countFreeSlots(candidate) >= candidate.requested ? await attempt(candidate, 0, request) : { status: 'busy' as const };
    if (outcome.status === 'busy') full.push(candidate);
    else if (outcome.status === 'fault') onFault(candidate, outcome.error, candidates.length - index - 1 + full.length);
    else return outcome;
  }

  let waited = false;
  while (full.length > 0 && faults < MAX_TRANSPORT_FAULTS && !aborted()) {
    const waitSecs = Math.ceil((deadline - Date.now()) / 1000);
    if (waitSecs <= 0) break;
    const queue = chooseQueue(full)!;
    full.splice(full.indexOf(queue), 1);
    if (!waited) request.notice(`every usable worker is busy; waiting up to ${waitSecs} s for a slot on worker "${queue.worker.id}"`);
    waited = true;
    const outcome = await attempt(queue, waitSecs, request);
    if (outcome.status === 'busy') break;
    if (outcome.status === 'fault') onFault(queue, outcome.error, full.length);
    else return outcome;
  }

  if (lastFault !== undefined && (full.length === 0 || faults >= MAX_TRANSPORT_FAULTS)) {
    return unavailable(describeError(lastFault), lastFault.hint);
  }
  const seconds = request.settings.queueTimeoutSecs;
  return unavailable(
    `every usable worker stayed busy for ${seconds} s`,
    'raise queue_timeout_secs in workers.toml, or add a worker with: rch workers add',
  );
}

/** One build on one worker; sorts the outcome into built, busy, or a transport fault. */
async function attempt(candidate: SurveyedCandidate, waitSecs: number, request: FleetBuildRequest): Promise<Attempt> {
  const { worker } = candidate;
  const { paths, env } = request.build;
  log('building on %s (%d slots, waiting up to %d s)', worker.id, candidate.requested, waitSecs);
  try {
    const result = await (request.runBuild ?? runRemoteBuild)({
      ...request.build,
      worker,
      slots: { count: candidate.requested, total: worker.totalSlots, waitSecs },
      connect: async () => {
        if (candidate.connection.state === 'closed') {
          candidate.connection = await (request.connect ?? ((target) => connectWorker(target, { paths, env })))(worker);
        }
        const connection = candidate.connection;
        return { connection, release: (broken) => broken && connection.close() };
      },
    });
    return { status: 'built', worker, result };
  } catch (error) {
    if (isRchError(error, 'RCH_WORKER_BUSY')) return { status: 'busy' };
    if (!isTransportFault(error)) throw error;
    log('worker %s failed: %s', worker.id, error);
    candidate.connection.close();
    if (countsAgainstHealth(error)) await recordFailure(paths, worker, error as RchError);
    if (isRchError(error, 'RCH_AGENT') || isRchError(error, 'RCH_AGENT_MISSING')) await forgetCachedCaps(paths, worker);
    return { status: 'fault', error: error as RchError };
  }
}

function describeExclusions(survey: Survey, request: FleetBuildRequest): FleetBuildOutcome {
  const [only] = survey.excluded;
  if (survey.excluded.length === 1 && only !== undefined) {
    const hint = only.error?.hint ?? 'rch status --workers';
    return unavailable(request.pinnedWorkerId === undefined ? only.reason : `RCH_WORKER=${only.worker.id}: ${only.reason}`, hint);
  }
  if (survey.excluded.length === 0) return unavailable('no worker in workers.toml', 'add one with: rch workers add ID --host HOST');
  const reasons = survey.excluded.map(({ worker, reason }) => `${worker.id}: ${reason}`).join('; ');
  return unavailable(`no worker can take the build (${reasons})`, 'rch status --workers');
}

function unavailable(reason: string, hint: string | undefined): FleetBuildOutcome {
  return { status: 'unavailable', reason, hint };
}
