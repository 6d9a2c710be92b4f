import { randomBytes } from 'node:crypto';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import type { LeasedConnection } from '../build/remote-build.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import type { DaemonLog } from './daemon-log.js';

/** Sessions one connection carries at once. OpenSSH's sshd allows 10 by default (MaxSessions). */
export const MAX_CHANNELS_PER_CONNECTION = 8;
/** A connection without leases is closed after this long. */
export const CONNECTION_MAX_IDLE_MS = 5 * 60 * 1000;

/**
 * Lifecycle of a pooled connection: 'connecting' until authenticated, then 'ready'. 'draining'
 * follows a transport fault that a build reported; the connection then takes no new leases and
 * closes with its last one. 'closed' follows a drop, the idle time or shutdown.
 */
export type PooledConnectionState = 'connecting' | 'ready' | 'draining' | 'closed';

export interface PooledConnectionStatus {
  id: string;
  worker: string;
  /** `user@host:port` once connected, else the configured host. */
  endpoint: string;
  state: PooledConnectionState;
  /** Leases in use, each one build and at most one channel at a time. */
  leases: number;
  idleSeconds: number;
}

interface PooledConnection {
  id: string;
  key: string;
  workerId: string;
  state: PooledConnectionState;
  ready: Promise<SshConnection>;
  connection: SshConnection | undefined;
  leases: number;
  releasedAt: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export interface LeaseOptions {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
}

/** Settings that make a connection unusable for a worker entry once they change. */
function poolKeyFor(worker: WorkerConfig): string {
  return JSON.stringify([worker.id, worker.host, worker.port ?? null, worker.user ?? null, worker.identityFile ?? null]);
}

/**
 * SSH connections kept open between builds. Several builds share one connection (SSH channels
 * multiplex) up to MAX_CHANNELS_PER_CONNECTION, then another connection opens. A connection
 * that dropped is replaced at the next lease; one released as broken is closed at once.
 */
export class ConnectionPool {
  private readonly connections = new Set<PooledConnection>();

  constructor(
    private readonly log: DaemonLog,
    private readonly connect: typeof connectWorker = connectWorker,
  ) {}

  async lease(worker: WorkerConfig, options: LeaseOptions): Promise<LeasedConnection> {
    const key = poolKeyFor(worker);
    for (;;) {
      const pooled = this.findFree(key) ?? this.open(worker, key, options);
      pooled.leases++;
      clearTimeout(pooled.idleTimer);
      let connection: SshConnection;
      try {
        connection = await pooled.ready;
      } catch (error) {
        pooled.leases--;
        throw error;
      }
      if (connection.state === 'closed') {
        pooled.leases--;
        this.discard(pooled, 'the connection had dropped');
        continue;
      }
      let released = false;
      return {
        connection,
        release: (broken) => {
          if (released) return;
          released = true;
          this.release(pooled, broken);
        },
      };
    }
  }

  status(): PooledConnectionStatus[] {
    const now = Date.now();
    return [...this.connections].map((pooled) => {
      const target = pooled.connection?.target;
      return {
        id: pooled.id,
        worker: pooled.workerId,
        endpoint: target ? `${target.user}@${target.hostname}:${target.port}` : pooled.workerId,
        state: pooled.connection?.state === 'closed' ? 'closed' : pooled.state,
        leases: pooled.leases,
        idleSeconds: pooled.leases > 0 ? 0 : Math.round((now - pooled.releasedAt) / 1000),
      };
    });
  }

  closeAll(): void {
    for (const pooled of this.connections) this.discard(pooled, 'the daemon is stopping');
  }

  private findFree(key: string): PooledConnection | undefined {
    for (const pooled of this.connections) {
      if (pooled.key !== key || pooled.leases >= MAX_CHANNELS_PER_CONNECTION) continue;
      if (pooled.state === 'draining' || pooled.state === 'closed') continue;
      if (pooled.connection?.state === 'closed') {
        this.discard(pooled, 'the connection had dropped');
        continue;
      }
      return pooled;
    }
    return undefined;
  }

  private open(worker: WorkerConfig, key: string, options: LeaseOptions): PooledConnection {
    const id = `c-${randomBytes(3).toString('hex')}`;
    const pooled: PooledConnection = {
      id,
      key,
      workerId: worker.id,
      state: 'connecting',
      ready: this.connect(worker, { paths: options.paths, env: options.env }),
      connection: undefined,
      leases: 0,
      releasedAt: Date.now(),
      idleTimer: undefined,
    };
    this.connections.add(pooled);
    pooled.ready.then(
      (connection) => {
        pooled.connection = connection;
        if (pooled.state === 'closed') connection.close();
        else if (pooled.state === 'connecting') pooled.state = 'ready';
        this.log.info('connection %s to worker %s: open', id, worker.id);
      },
      (error: unknown) => {
        pooled.state = 'closed';
        this.connections.delete(pooled);
        this.log.error(error, 'connection %s to worker %s: failed', id, worker.id);
      },
    );
    return pooled;
  }

  private release(pooled: PooledConnection, broken: boolean): void {
    pooled.leases--;
    pooled.releasedAt = Date.now();
    // Other builds on the connection go on; the fault may belong to one build's command alone.
    if (broken && pooled.state !== 'closed') pooled.state = 'draining';
    if (pooled.leases > 0 || pooled.state === 'closed') return;
    if (pooled.state === 'draining') {
      this.discard(pooled, 'a build reported a transport fault');
      return;
    }
    pooled.idleTimer = setTimeout(() => this.discard(pooled, 'it was idle'), CONNECTION_MAX_IDLE_MS);
    pooled.idleTimer.unref();
  }

  /** Closes a connection; builds still holding a lease see their channels fail. */
  private discard(pooled: PooledConnection, reason: string): void {
    if (!this.connections.delete(pooled)) return;
    clearTimeout(pooled.idleTimer);
    pooled.state = 'closed';
    pooled.connection?.close();
    this.log.info('connection %s to worker %s: closed because %s', pooled.id, pooled.workerId, reason);
  }
}
