import { scanAndFingerprint, type TreeSnapshot } from '../build/remote-build.js';
import type { ProjectConfig } from '../config/types.js';
import type { ProjectLayout } from '../sync/cargo-metadata.js';
import { indexFileFor } from '../sync/file-index.js';
import { ProjectWatcher, type ProjectWatcherStatus } from './project-watcher.js';
import { WatchBarrier } from './watch-barrier.js';
import { OverflowMonitor } from './watch-overflow.js';
import type { DaemonLog } from './daemon-log.js';

/** A project whose tree no build requested during this long is no longer watched. */
export const PROJECT_IDLE_MS = 15 * 60 * 1000;
const IDLE_SWEEP_INTERVAL_MS = 60 * 1000;

export interface SnapshotRequest {
  layout: ProjectLayout;
  project: ProjectConfig;
  projectKey: string;
  /** rch's cache folder, which contains the hash index. */
  cacheFolder: string;
}

/**
 * The daemon's project watchers, one per project layout: a change of roots, target directory
 * or `exclude` list gets a new watcher. All share one barrier and one overflow monitor, because
 * all their watches share the process's inotify instance.
 */
export class ProjectWatchers {
  private readonly watchers = new Map<string, ProjectWatcher>();
  private readonly overflow = new OverflowMonitor();
  private readonly barrier: WatchBarrier;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    barrierFolder: string,
    private readonly log: DaemonLog,
  ) {
    this.barrier = new WatchBarrier(barrierFolder, () => this.overflow.noteEvent());
    this.sweepTimer = setInterval(() => void this.closeIdle(PROJECT_IDLE_MS), IDLE_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Returns a project's tree for one build. A watcher failure falls back to a full scan without it. */
  async snapshot(request: SnapshotRequest): Promise<TreeSnapshot> {
    const { layout, project, projectKey } = request;
    const key = JSON.stringify([projectKey, layout.roots, layout.targetDir, project.exclude]);
    let watcher = this.watchers.get(key);
    if (!watcher) {
      watcher = new ProjectWatcher({
        layout,
        exclude: project.exclude,
        indexFile: indexFileFor(request.cacheFolder, projectKey),
        barrier: this.barrier,
        overflow: this.overflow,
        log: this.log,
      });
      this.watchers.set(key, watcher);
      this.log.info('project %s: watching roots %s', layout.workspaceRoot, layout.roots.join(', '));
    }
    try {
      return await watcher.snapshot();
    } catch (error) {
      this.log.error(error, 'project %s: the watcher failed, scanning without it', layout.workspaceRoot);
      if (this.watchers.get(key) === watcher) this.watchers.delete(key);
      await watcher.close().catch((closeError: unknown) => this.log.error(closeError, 'project %s: closing the watcher failed', layout.workspaceRoot));
      return scanAndFingerprint(layout, project, indexFileFor(request.cacheFolder, projectKey));
    }
  }

  status(): ProjectWatcherStatus[] {
    return [...this.watchers.values()].map((watcher) => watcher.status());
  }

  /** Closes the watchers unused for `idleMs`; 0 closes all of them. */
  async closeIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.watchers].map(async ([key, watcher]) => {
        if (now - watcher.lastUsedAt < idleMs) return;
        this.watchers.delete(key);
        const { workspaceRoot } = watcher.status();
        await watcher.close().catch((error: unknown) => this.log.error(error, 'project %s: closing the watcher failed', workspaceRoot));
        this.log.info('project %s: stopped watching after %d s without builds', workspaceRoot, Math.round((now - watcher.lastUsedAt) / 1000));
      }),
    );
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.closeIdle(0);
    this.barrier.close();
  }
}
