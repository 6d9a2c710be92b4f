import { PassThrough } from 'node:stream';
import type { SshConnection } from '../ssh/connection.js';
import { RchError } from '../errors.js';
import { PathRewriter } from './path-rewriter.js';
import { shCommand } from './shell-quote.js';
import { ABORT_GRACE_SECONDS, buildRunScript, capJobs, RUN_OUTCOME_MARKERS, type SlotRequest } from './run-script.js';
import { createLogger } from '../debug.js';

export { buildRunScript, type SlotRequest } from './run-script.js';

const log = createLogger('run');

/** How long rch waits for the worker to report the exit of an interrupted build. */
const ABORT_WAIT_MS = (ABORT_GRACE_SECONDS + 5) * 1000;

export interface RemoteCargoOptions {
  connection: SshConnection;
  /** Resolved `remote_base` (no `~`). */
  remoteBase: string;
  projectKey: string;
  /** Marker token of the last sync. The run does not start when the worker's marker contains another. */
  token: string;
  roots: string[];
  /** Local working directory; cargo runs in its worker twin. */
  cwd: string;
  /** Cargo's arguments after any rewriting of local paths. */
  args: string[];
  env: Record<string, string>;
  /**
   * Build slots to hold while cargo runs. Cargo's jobs are capped at their count. Without it,
   * cargo starts at once with its default job count.
   */
  slots?: SlotRequest;
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

export type RemoteCargoResult =
  | { status: 'exited'; exitCode: number }
  | { status: 'signalled'; signal: string }
  | { status: 'stale' };

type Outcome = keyof typeof RUN_OUTCOME_MARKERS;
const MARKERS = Object.entries(RUN_OUTCOME_MARKERS).map(([outcome, { marker }]) => ({
  outcome: outcome as Outcome,
  bytes: Buffer.from(marker),
}));

/**
 * Holds back the start of stderr until it is clear whether it begins with one of the run
 * script's markers. A marked stderr is kept for the error message and never shown as cargo's.
 */
class MarkerFilter {
  private head = Buffer.alloc(0);
  private decided = false;
  outcome: Outcome | undefined;
  text = '';

  constructor(private readonly forward: (chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.outcome !== undefined) {
      this.text += chunk.toString('utf8');
      return;
    }
    if (this.decided) {
      this.forward(chunk);
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    const found = MARKERS.find(({ bytes }) => this.head.subarray(0, bytes.length).equals(bytes));
    if (found) {
      this.outcome = found.outcome;
      this.text = this.head.toString('utf8');
      return;
    }
    if (MARKERS.some(({ bytes }) => bytes.subarray(0, this.head.length).equals(this.head))) return;
    this.flush();
  }

  flush(): void {
    if (this.decided || this.outcome !== undefined) return;
    this.decided = true;
    if (this.head.length > 0) this.forward(this.head);
  }
}

/**
 * Runs cargo on the worker with live output. Worker paths under `remote_base` are mapped back
 * to local paths in both streams. Resolves with cargo's own exit status, or `stale` when the
 * worker's copy must be synced again first. Rejects with RCH_WORKER_BUSY when the slots were
 * not free in time, and with RCH_AGENT or RCH_AGENT_MISSING when the worker is not set up.
 */
export async function runRemoteCargo(options: RemoteCargoOptions): Promise<RemoteCargoResult> {
  const script = buildRunScript({ ...options, env: capJobs(options.env, options.slots) });
  const command = shCommand(script, 'rch-cargo', options.args);
  const prefix = `${options.remoteBase.replace(/\/+$/, '')}/`;
  const stdout = new PathRewriter(prefix, '/', options.stdout);
  const stderr = new PathRewriter(prefix, '/', options.stderr);
  const markers = new MarkerFilter((chunk) => stderr.push(chunk));

  log('running cargo %o on %s with slots %o', options.args, options.connection.workerId, options.slots);
  // Ending stdin is the abort request (see buildRunScript).
  const stdin = new PassThrough();
  let abortTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    stdin.end();
    // NOTE: on a pooled connection this also ends the other builds sharing it. It happens only
    // when the worker did not report an exit after SIGKILL, so that connection is suspect anyway.
    abortTimer = setTimeout(() => options.connection.close(), ABORT_WAIT_MS);
    abortTimer.unref();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const execution = options.connection.exec(command, {
    stdin,
    stdout: (chunk) => stdout.push(chunk),
    stderr: (chunk) => markers.push(chunk),
  });
  let result: Awaited<typeof execution>;
  try {
    result = await execution;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (abortTimer) clearTimeout(abortTimer);
    stdin.end();
    markers.flush();
    stdout.flush();
    stderr.flush();
  }

  const outcome = markers.outcome;
  if (outcome !== undefined && result.exitCode === RUN_OUTCOME_MARKERS[outcome].exitCode) {
    if (outcome === 'stale') return { status: 'stale' };
    throw describeRefusal(outcome, markers.text.trim(), options);
  }
  // Output that only looked like a marker belongs to cargo after all.
  if (outcome !== undefined) {
    stderr.push(Buffer.from(markers.text));
    stderr.flush();
  }
  if (result.exitCode !== null) return { status: 'exited', exitCode: result.exitCode };
  return { status: 'signalled', signal: result.exitSignal ?? 'KILL' };
}

function describeRefusal(outcome: Exclude<Outcome, 'stale'>, detail: string, options: RemoteCargoOptions): RchError {
  const worker = `worker "${options.connection.workerId}"`;
  if (outcome === 'busy') {
    const { count = 0, total = 0, waitSecs = 0 } = options.slots ?? {};
    return new RchError('RCH_WORKER_BUSY', `${worker}: ${count} of its ${total} build slots were not free within ${waitSecs} s`, {
      hint: 'raise queue_timeout_secs in workers.toml, or add a worker with: rch workers add',
    });
  }
  const code = detail.includes('not installed') ? 'RCH_AGENT_MISSING' : 'RCH_AGENT';
  return new RchError(code, `${worker} cannot run builds: ${detail.split('\n')[0]}`, {
    hint: `rch workers setup ${options.connection.workerId}`,
  });
}
