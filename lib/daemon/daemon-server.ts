import fs from 'node:fs/promises';
import net from 'node:net';
import { ConnectionPool } from './connection-pool.js';
import { ProjectWatchers } from './project-watchers.js';
import { serveBuild, type BuildServices } from './serve-build.js';
import { FramedSocket } from './framed-socket.js';
import type { DaemonPaths } from './daemon-paths.js';
import type { DaemonLog } from './daemon-log.js';
import type { DaemonState, DaemonStatus } from './daemon-status.js';
import { isBuildRequestData, PROTOCOL_VERSION, toWireError, type ClientMessage, type DaemonMessage } from './protocol.js';
import { describeError, RchError } from '../errors.js';

/** How long a client may take to send its request after connecting. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long `stop` waits for aborted builds to finish before it closes everything. */
const STOP_GRACE_MS = 5_000;

type Session = FramedSocket<ClientMessage, DaemonMessage>;

export interface DaemonServerOptions {
  daemonPaths: DaemonPaths;
  /** The daemon stops after this long without a client. */
  idleMs: number;
  log: DaemonLog;
}

/**
 * The daemon's socket server. Each client connection carries one request: `hello`, `status`,
 * `stop`, or `build`, which `abort` may follow. lib/daemon/README.md describes the exchange.
 * A build whose client disconnects is aborted.
 */
export class DaemonServer {
  state: DaemonState = 'starting';
  /** Resolves once `stop` has closed everything. */
  readonly stopped: Promise<void>;
  private resolveStopped: () => void = () => {};
  private readonly server = net.createServer((socket) => this.accept(socket));
  private readonly sessions = new Set<Session>();
  private readonly builds = new Map<string, AbortController>();
  private readonly services: BuildServices;
  private readonly startedAt = Date.now();
  private buildCount = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private socketIno: number | undefined;

  constructor(private readonly options: DaemonServerOptions) {
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.services = {
      pool: new ConnectionPool(options.log),
      watchers: new ProjectWatchers(options.daemonPaths.barrierDir, options.log),
      log: options.log,
    };
  }

  /** Listens on the socket. The caller owns the pid file, so an existing socket is stale. */
  async listen(): Promise<void> {
    const { socket } = this.options.daemonPaths;
    await fs.rm(socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socket, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.options.log.error(error, 'socket server error'));
    await fs.chmod(socket, 0o600);
    this.socketIno = (await fs.lstat(socket)).ino;
    this.state = 'running';
    this.armIdleTimer();
  }

  status(): DaemonStatus {
    const memory = process.memoryUsage();
    return {
      pid: process.pid,
      state: this.state,
      socket: this.options.daemonPaths.socket,
      logFile: this.options.daemonPaths.logFile,
      protocol: PROTOCOL_VERSION,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      idleExitSeconds: Math.round(this.options.idleMs / 1000),
      buildsRunning: this.builds.size,
      buildsServed: this.buildCount - this.builds.size,
      projects: this.services.watchers.status(),
      connections: this.services.pool.status(),
      memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    };
  }

  /** Aborts running builds, closes watchers, connections and the socket. */
  async stop(reason: string): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return this.stopped;
    this.state = 'stopping';
    this.options.log.info('stopping: %s', reason);
    clearTimeout(this.idleTimer);
    this.server.close();
    for (const controller of this.builds.values()) controller.abort(new RchError('RCH_DAEMON_LOST', `the rch daemon stopped: ${reason}`));
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.builds.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const session of this.sessions) session.destroy();
    await this.services.watchers.closeAll();
    this.services.pool.closeAll();
    await this.removeSocket();
    this.state = 'stopped';
    this.resolveStopped();
  }

  private accept(socket: net.Socket): void {
    // A client may connect between listen() and the end of `listen`, while the state is 'starting'.
    if (this.state === 'stopping' || this.state === 'stopped') {
      socket.destroy();
      return;
    }
    const session: Session = new FramedSocket(socket);
    this.sessions.add(session);
    clearTimeout(this.idleTimer);
    const requestTimer = setTimeout(() => session.destroy(), REQUEST_TIMEOUT_MS);
    session.on('close', () => {
      clearTimeout(requestTimer);
      this.sessions.delete(session);
      this.armIdleTimer();
    });
    session.on('invalid', (error: RchError) => this.options.log.error(error, 'rejected a client request'));
    session.once('message', (message: ClientMessage) => {
      clearTimeout(requestTimer);
      this.handle(session, message);
    });
  }

  private handle(session: Session, message: ClientMessage): void {
    // `stop` is honoured from any protocol version, so that a newer client can replace this daemon.
    if (message.type === 'stop') {
      session.send({ type: 'stopping' });
      session.end();
      void this.stop('a client asked the daemon to stop');
      return;
    }
    if (message.type === 'hello') {
      session.send({ type: 'hello', protocol: PROTOCOL_VERSION, pid: process.pid });
      session.end();
      return;
    }
    if (message.type === 'status' && message.protocol === PROTOCOL_VERSION) {
      session.send({ type: 'status', status: this.status() });
      session.end();
      return;
    }
    if (message.type === 'build' && message.protocol === PROTOCOL_VERSION && isBuildRequestData(message.build)) {
      void this.runBuild(session, message.build);
      return;
    }
    const problem = new RchError('RCH_DAEMON_PROTOCOL', `daemon: unexpected request ${JSON.stringify(message).slice(0, 200)}`, {
      kind: 'internal',
      hint: 'restart the daemon with `rch daemon restart`',
    });
    this.options.log.error(problem, 'rejected a client request');
    session.send({ type: 'error', error: toWireError(problem) });
    session.end();
  }

  private async runBuild(session: Session, data: Extract<ClientMessage, { type: 'build' }>['build']): Promise<void> {
    const id = `b${++this.buildCount}`;
    const controller = new AbortController();
    this.builds.set(id, controller);
    const abort = (reason: unknown): void => {
      if (controller.signal.aborted) return;
      this.options.log.info('build %s: aborting: %s', id, describeError(reason));
      controller.abort(reason);
    };
    session.on('message', (message: ClientMessage) => {
      if (message.type === 'abort') abort(message.reason);
    });
    session.on('close', () => abort(new RchError('RCH_DAEMON_LOST', `build ${id}: the client disconnected`)));
    try {
      await serveBuild(id, data, (message) => session.send(message), controller.signal, this.services);
    } finally {
      this.builds.delete(id);
      session.end();
      this.armIdleTimer();
    }
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    if (this.state !== 'running' || this.sessions.size > 0 || this.builds.size > 0) return;
    this.idleTimer = setTimeout(() => void this.stop(`idle for ${Math.round(this.options.idleMs / 1000)} s`), this.options.idleMs);
  }

  /** Removes the socket unless another daemon has replaced it since. */
  private async removeSocket(): Promise<void> {
    const { socket } = this.options.daemonPaths;
    const current = await fs.lstat(socket).catch(() => undefined);
    if (current !== undefined && current.ino === this.socketIno) await fs.rm(socket, { force: true });
  }
}
