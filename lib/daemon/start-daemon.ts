import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { RchError } from '../errors.js';
import { readDaemonPid } from './daemon-lock.js';
import type { DaemonPaths } from './daemon-paths.js';
import { isNotListening, requestReply } from './daemon-session.js';
import { PROTOCOL_VERSION } from './protocol.js';

/** How long a client waits for a daemon it started to accept connections. */
export const DAEMON_START_TIMEOUT_MS = 3_000;
const START_POLL_MS = 25;

/** The CLI entry point of this checkout, which `rch daemon run` starts. */
const RCH_BIN = fileURLToPath(new URL('../../bin/rch', import.meta.url));

/**
 * Starts `rch daemon run` detached: in its own session, with stdin closed and stdout and
 * stderr appended to the daemon log, so that the caller never waits for it. Then waits until
 * its socket responds. Throws RCH_DAEMON_UNAVAILABLE when it does not start in time.
 */
export async function startDaemon(daemonPaths: DaemonPaths, env: NodeJS.ProcessEnv): Promise<number> {
  mkdirSync(path.dirname(daemonPaths.logFile), { recursive: true, mode: 0o700 });
  const logFd = openSync(daemonPaths.logFile, 'a', 0o600);
  let exitCode: number | null | undefined;
  try {
    const child = spawn(process.execPath, [RCH_BIN, 'daemon', 'run'], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env,
      // The daemon must not keep a project folder busy.
      cwd: '/',
    });
    child.once('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : null)));
    child.once('error', () => (exitCode = 127));
    child.unref();
  } finally {
    closeSync(logFd);
  }

  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  for (;;) {
    try {
      const reply = await requestReply(daemonPaths.socket, { type: 'hello', protocol: PROTOCOL_VERSION });
      if (reply.type === 'hello') return reply.pid;
    } catch (error) {
      if (!isNotListening(error)) throw error;
    }
    // A daemon that exited at once failed, unless another one that starts at the same time owns the pid file.
    const failed = exitCode !== undefined && exitCode !== 0 && (await readDaemonPid(daemonPaths.pidFile)) === undefined;
    if (failed || Date.now() > deadline) {
      const problem = failed ? `exited with code ${exitCode}` : `did not respond within ${DAEMON_START_TIMEOUT_MS} ms`;
      throw new RchError('RCH_DAEMON_UNAVAILABLE', `the rch daemon ${problem}`, {
        hint: `see ${daemonPaths.logFile}, or try \`rch daemon run\` to see it fail`,
      });
    }
    await sleep(START_POLL_MS);
  }
}
