import { watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../debug.js';

const log = createLogger('daemon:barrier');

/** How long a build waits for its barrier event before it scans the project in full. */
const BARRIER_TIMEOUT_MS = 5_000;

/**
 * Waits until every file event that happened before the call has been delivered. All fs.watch
 * handles of a node process share one inotify instance (libuv keeps one inotify file descriptor
 * per event loop), whose queue keeps the kernel's order. A write that finished before a build
 * request arrived is queued before the barrier file that the daemon creates afterwards, so once
 * the barrier file's event arrives, the events of those writes have been delivered too. The
 * barrier folder lives in the daemon's private run folder, so rch never writes into sources.
 * NOTE: inotify reports no writes made through mmap, and none made by other hosts on network
 * file systems. A tree changed that way is only read again by the next full scan. On macOS,
 * fs.watch uses FSEvents, not inotify, and this ordering has not been verified there.
 */
export class WatchBarrier {
  private watcher: FSWatcher | undefined;
  private readonly pending = new Map<string, () => void>();
  private sequence = 0;

  constructor(
    private readonly folder: string,
    private readonly onEvent: () => void = () => {},
  ) {}

  /** Resolves true once the barrier event arrived, false when it timed out or failed. */
  async pass(): Promise<boolean> {
    const name = `barrier-${process.pid}-${++this.sequence}`;
    const file = path.join(this.folder, name);
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.startWatching();
      const arrived = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), BARRIER_TIMEOUT_MS);
        this.pending.set(name, () => resolve(true));
      });
      await fs.writeFile(file, '', { mode: 0o600 });
      const passed = await arrived;
      if (!passed) log('barrier %s timed out after %d ms', name, BARRIER_TIMEOUT_MS);
      return passed;
    } catch (error) {
      log('barrier %s failed: %s', name, error);
      return false;
    } finally {
      clearTimeout(timer);
      this.pending.delete(name);
      await fs.rm(file, { force: true }).catch(() => undefined);
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async startWatching(): Promise<void> {
    if (this.watcher) return;
    await fs.mkdir(this.folder, { recursive: true, mode: 0o700 });
    this.watcher = watch(this.folder, { persistent: false }, (_event, filename) => {
      this.onEvent();
      if (filename) this.pending.get(filename)?.();
    });
    this.watcher.on('error', (error) => {
      log('barrier watch failed: %s', error);
      this.close();
    });
  }
}
