import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { RchError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks whether `pid` runs an rch daemon. After a crash the pid may belong to an unrelated
 * process, so where /proc exists its command line must contain `daemon`. An exited daemon that
 * is not reaped yet has an empty command line, so it counts as gone.
 */
export function isDaemonProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('daemon');
  } catch {
    return process.platform !== 'linux';
  }
}

/** Reads the pid of the running daemon from its pid file; returns undefined when none runs. */
export async function readDaemonPid(pidFile: string): Promise<number | undefined> {
  const pid = Number.parseInt(await fs.readFile(pidFile, 'utf8').catch(() => ''), 10);
  return Number.isInteger(pid) && pid > 0 && isDaemonProcess(pid) ? pid : undefined;
}

/**
 * Creates the pid file, complete with its content, by hard-linking a temporary file to it.
 * link(2) fails with EEXIST like O_EXCL, and no reader ever sees an empty pid file. A file left
 * by a daemon that is gone is replaced. Throws RCH_DAEMON_RUNNING when another daemon owns it.
 * Returns the release function.
 */
export async function acquireDaemonLock(pidFile: string): Promise<() => Promise<void>> {
  const temporary = path.join(path.dirname(pidFile), `.rchd.pid.${process.pid}`);
  await fs.writeFile(temporary, `${process.pid}\n`, { mode: 0o600 });
  try {
    return await linkPidFile(temporary, pidFile);
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

async function linkPidFile(temporary: string, pidFile: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.link(temporary, pidFile);
      return async () => {
        const holder = await fs.readFile(pidFile, 'utf8').catch(() => '');
        if (Number.parseInt(holder, 10) === process.pid) await fs.rm(pidFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const content = await fs.readFile(pidFile, 'utf8').catch(() => '');
    const holder = await readDaemonPid(pidFile);
    if (holder !== undefined) {
      throw new RchError('RCH_DAEMON_RUNNING', `an rch daemon already runs as pid ${holder} (${pidFile})`, {
        hint: 'use `rch daemon status` to see it, or `rch daemon restart` to replace it',
      });
    }
    await removeStalePidFile(pidFile, content);
  }
  throw new RchError('RCH_DAEMON_RUNNING', `could not take the daemon lock ${pidFile}: other daemons keep starting`, {
    hint: `check for several rch daemons with \`pgrep -af 'rch daemon'\``,
  });
}

/**
 * Removes a pid file whose daemon is gone. It is renamed away first, so that of two daemons
 * taking over at once only one removes it. A file that turns out to be a newer one is put back.
 */
async function removeStalePidFile(pidFile: string, staleContent: string): Promise<void> {
  const moved = path.join(path.dirname(pidFile), `.rchd.pid.stale-${process.pid}`);
  try {
    await fs.rename(pidFile, moved);
  } catch {
    return;
  }
  if ((await fs.readFile(moved, 'utf8').catch(() => '')) !== staleContent) {
    await fs.link(moved, pidFile).catch(() => undefined);
  }
  await fs.rm(moved, { force: true });
}
