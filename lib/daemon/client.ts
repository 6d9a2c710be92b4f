import { setTimeout as sleep } from 'node:timers/promises';
import type { RchPaths } from '../config/paths.js';
import type { RemoteBuildRequest, RemoteBuildResult } from '../build/remote-build.js';
import { mergeTimings } from '../build/phase-timings.js';
import { describeError, RchError } from '../errors.js';
import { isDaemonProcess } from './daemon-lock.js';
import { checkDaemonPaths, prepareRunDir, resolveDaemonPaths, type DaemonPaths } from './daemon-paths.js';
import { isNotListening, openSession, requestReply } from './daemon-session.js';
import { startDaemon } from './start-daemon.js';
import type { DaemonStatus } from './daemon-status.js';
import { fromWireError, PROTOCOL_VERSION, type BuildRequestData, type DaemonMessage, type TerminalInfo } from './protocol.js';

/** How long `stop` waits for the daemon process to exit. */
const STOP_TIMEOUT_MS = 10_000;
const STOP_POLL_MS = 50;

/**
 * A build for the daemon: a RemoteBuildRequest without the seams the daemon fills itself. A
 * `connect` seam that a caller passes is ignored, because the daemon lends its own connections.
 */
export type DaemonBuildRequest = Omit<RemoteBuildRequest, 'connect' | 'snapshotTree'> & {
  connect?: RemoteBuildRequest['connect'];
  /** The terminal the output goes to. Default: this process's stderr. */
  terminal?: TerminalInfo;
};

function toRequestData(request: DaemonBuildRequest): BuildRequestData {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.env)) if (value !== undefined) env[name] = value;
  const terminal = request.terminal ?? {
    isTTY: process.stderr.isTTY === true,
    ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  };
  const { worker, paths, cwd, args, subcommandIndex, layout, project, slots } = request;
  return { worker, paths, env, cwd, args, subcommandIndex, layout, project, terminal, ...(slots ? { slots } : {}) };
}

/** A running daemon, reached through its socket with one connection per request. */
export class DaemonClient {
  constructor(
    readonly daemonPaths: DaemonPaths,
    readonly pid: number,
    readonly protocol: number,
  ) {}

  /** Connects to the daemon listening on the socket; returns undefined when none listens. */
  static async connect(daemonPaths: DaemonPaths): Promise<DaemonClient | undefined> {
    await checkDaemonPaths(daemonPaths);
    try {
      const reply = await requestReply(daemonPaths.socket, { type: 'hello', protocol: PROTOCOL_VERSION });
      if (reply.type === 'hello') return new DaemonClient(daemonPaths, reply.pid, reply.protocol);
    } catch (error) {
      if (isNotListening(error)) return undefined;
      throw error;
    }
    return undefined;
  }

  /** Runs a build in the daemon, with the contract of runRemoteBuild. */
  async runBuild(request: DaemonBuildRequest): Promise<RemoteBuildResult> {
    request.signal.throwIfAborted();
    await checkDaemonPaths(this.daemonPaths);
    const session = await openSession(this.daemonPaths.socket);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        request.signal.removeEventListener('abort', onAbort);
        outcome();
      };
      // Like an in-process build, an abort rejects at once with the signal's reason.
      const onAbort = (): void => {
        session.send({ type: 'abort', reason: describeError(request.signal.reason) });
        session.end();
        settle(() => reject(request.signal.reason));
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      session.on('message', (message: DaemonMessage) => {
        if (message.type === 'stdout') request.stdout(Buffer.from(message.data, 'base64'));
        else if (message.type === 'stderr') request.stderr(Buffer.from(message.data, 'base64'));
        else if (message.type === 'result') settle(() => resolve(message.result));
        else if (message.type === 'error') settle(() => reject(fromWireError(message.error)));
        if ((message.type === 'result' || message.type === 'error') && message.timings) mergeTimings(message.timings);
      });
      session.on('invalid', (error: RchError) => settle(() => reject(error)));
      session.on('close', () =>
        settle(() =>
          reject(
            new RchError('RCH_DAEMON_LOST', `the rch daemon (pid ${this.pid}) ended the connection before the build finished`, {
              hint: `see ${this.daemonPaths.logFile}; the next build starts a new daemon`,
            }),
          ),
        ),
      );
      session.send({ type: 'build', protocol: PROTOCOL_VERSION, build: toRequestData(request) });
    });
  }

  async status(): Promise<DaemonStatus> {
    const reply = await requestReply(this.daemonPaths.socket, { type: 'status', protocol: PROTOCOL_VERSION });
    if (reply.type === 'status') return reply.status;
    if (reply.type === 'error') throw fromWireError(reply.error);
    throw new RchError('RCH_DAEMON_PROTOCOL', `the rch daemon returned ${reply.type} to a status request`, { kind: 'internal' });
  }

  /** Asks the daemon to stop and waits until its process has exited. */
  async stop(): Promise<void> {
    await requestReply(this.daemonPaths.socket, { type: 'stop', protocol: PROTOCOL_VERSION });
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isDaemonProcess(this.pid)) {
      if (Date.now() > deadline) {
        throw new RchError('RCH_DAEMON_RUNNING', `the rch daemon (pid ${this.pid}) did not exit within ${STOP_TIMEOUT_MS} ms`, {
          hint: `kill ${this.pid}`,
        });
      }
      await sleep(STOP_POLL_MS);
    }
  }
}

export interface EnsureDaemonOptions {
  /** Receives the reason when no daemon can serve. */
  onUnavailable?: (error: unknown) => void;
}

/**
 * Connects to this user's daemon, starting it when none runs, or replacing one that speaks
 * another protocol version. Returns undefined when RCH_NO_DAEMON=1 is set or no daemon can serve.
 */
export async function ensureDaemon(
  paths: RchPaths,
  env: NodeJS.ProcessEnv,
  options: EnsureDaemonOptions = {},
): Promise<DaemonClient | undefined> {
  if (env.RCH_NO_DAEMON === '1') return undefined;
  const daemonPaths = resolveDaemonPaths(paths, env);
  try {
    const running = await DaemonClient.connect(daemonPaths);
    if (running?.protocol === PROTOCOL_VERSION) return running;
    if (running) await running.stop();
    await prepareRunDir(daemonPaths);
    const pid = await startDaemon(daemonPaths, env);
    return new DaemonClient(daemonPaths, pid, PROTOCOL_VERSION);
  } catch (error) {
    options.onUnavailable?.(error);
    return undefined;
  }
}

/**
 * Runs a build in this user's daemon, starting it when needed, with the contract of
 * runRemoteBuild. Throws RCH_DAEMON_UNAVAILABLE (or RCH_DAEMON_UNSAFE) when no daemon can serve.
 */
export async function runRemoteBuildViaDaemon(request: DaemonBuildRequest): Promise<RemoteBuildResult> {
  let failure: unknown = new RchError('RCH_DAEMON_UNAVAILABLE', 'the daemon is off because RCH_NO_DAEMON=1 is set', {
    hint: 'unset RCH_NO_DAEMON',
  });
  const client = await ensureDaemon(request.paths, request.env, { onUnavailable: (error) => (failure = error) });
  if (client) return client.runBuild(request);
  if (failure instanceof RchError) throw failure;
  throw new RchError('RCH_DAEMON_UNAVAILABLE', `the rch daemon is unavailable: ${describeError(failure)}`, { cause: failure });
}
