import { rmSync } from 'node:fs';
import type { RchPaths } from '../config/paths.js';
import { describeError } from '../errors.js';
import { acquireDaemonLock } from './daemon-lock.js';
import { openDaemonLog, type DaemonLog } from './daemon-log.js';
import { prepareRunDir, resolveDaemonPaths } from './daemon-paths.js';
import { DaemonServer } from './daemon-server.js';

/** Default of RCH_DAEMON_IDLE_SECONDS: the daemon exits after this long without a client. */
export const DEFAULT_IDLE_SECONDS = 1800;
/** Maximum delay of a node timer (about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a stop, the process exits this long later even if a handle still keeps it alive. */
const EXIT_GRACE_MS = 2_000;

/** Reads RCH_DAEMON_IDLE_SECONDS (seconds, more than 0) in milliseconds; an invalid value is logged and replaced by the default. */
export function readIdleMs(env: NodeJS.ProcessEnv, log: DaemonLog): number {
  const text = env.RCH_DAEMON_IDLE_SECONDS;
  if (text === undefined || text === '') return DEFAULT_IDLE_SECONDS * 1000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    log.info('ignoring RCH_DAEMON_IDLE_SECONDS=%s: expected a number of seconds above 0, using %d', text, DEFAULT_IDLE_SECONDS);
    return DEFAULT_IDLE_SECONDS * 1000;
  }
  return Math.min(seconds * 1000, MAX_TIMER_MS);
}

/**
 * Runs the daemon in this process until it stops (`rch daemon run`). Throws RCH_DAEMON_RUNNING
 * when another daemon owns the pid file, and RCH_DAEMON_UNSAFE for a run folder of another user.
 */
export async function runDaemon(paths: RchPaths, env: NodeJS.ProcessEnv): Promise<number> {
  // The socket, pid file and logs are for this user only.
  process.umask(0o077);
  const daemonPaths = resolveDaemonPaths(paths, env);
  await prepareRunDir(daemonPaths);
  const log = openDaemonLog(daemonPaths.logFile);

  let releaseLock: () => Promise<void>;
  try {
    releaseLock = await acquireDaemonLock(daemonPaths.pidFile);
  } catch (error) {
    log.info('not starting: %s', describeError(error));
    log.close();
    throw error;
  }

  const server = new DaemonServer({ daemonPaths, idleMs: readIdleMs(env, log), log });
  const onSignal = (signal: NodeJS.Signals): void => void server.stop(`received ${signal}`);
  const onHangup = (): void => log.info('ignoring SIGHUP');
  // A bug must not leave a socket that accepts nothing; the next client then starts a new daemon.
  const onCrash = (error: unknown): void => {
    log.error(error, 'uncaught error, exiting');
    rmSync(daemonPaths.socket, { force: true });
    rmSync(daemonPaths.pidFile, { force: true });
    process.exit(70);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  try {
    await server.listen();
    log.info('started: pid %d, socket %s, exits after %d s without clients', process.pid, daemonPaths.socket, server.status().idleExitSeconds);
    await server.stopped;
  } finally {
    await releaseLock();
    log.info('stopped');
    log.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
  }
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
  return 0;
}
