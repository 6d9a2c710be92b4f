import fs from 'node:fs/promises';
import path from 'node:path';
import { RchError } from '../errors.js';

const POLL_INTERVAL_MS = 100;

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock file holding this process's pid. A lock left by a process that no
 * longer runs is taken over. Waits up to `timeoutMs`, calling `onWait` once when it has to wait.
 */
export async function acquireFileLock(
  file: string,
  options: { timeoutMs: number; onWait?: () => void },
): Promise<() => Promise<void>> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + options.timeoutMs;
  let waited = false;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await fs.rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder > 0 && !isProcessAlive(holder)) {
      // The holder died without releasing the lock. Renaming it away first means that of two
      // processes taking over at once, only one removes it.
      const stale = `${file}.stale-${process.pid}`;
      await fs.rename(file, stale).then(() => fs.rm(stale, { force: true }), () => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new RchError('RCH_LOCK', `timed out waiting for lock ${file} held by pid ${holder}`, {
        hint: `wait for that build to finish, or remove ${file} if pid ${holder} is not an rch process`,
      });
    }
    if (!waited) options.onWait?.();
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
