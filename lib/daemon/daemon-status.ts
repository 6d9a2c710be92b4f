import type { ProjectWatcherStatus } from './project-watcher.js';
import type { PooledConnectionStatus } from './connection-pool.js';

/** Lifecycle of the daemon process. */
export type DaemonState = 'starting' | 'running' | 'stopping' | 'stopped';

/** The daemon's state as `rch daemon status --json` prints it. */
export interface DaemonStatus {
  pid: number;
  state: DaemonState;
  socket: string;
  logFile: string;
  protocol: number;
  startedAt: string;
  uptimeSeconds: number;
  /** The daemon exits after this many seconds without a request (RCH_DAEMON_IDLE_SECONDS). */
  idleExitSeconds: number;
  buildsRunning: number;
  buildsServed: number;
  projects: ProjectWatcherStatus[];
  connections: PooledConnectionStatus[];
  /** Bytes, from process.memoryUsage(). */
  memory: { rss: number; heapUsed: number; heapTotal: number };
}
