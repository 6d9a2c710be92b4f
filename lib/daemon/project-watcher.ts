import type { TreeSnapshot } from '../build/remote-build.js';
import type { ProjectLayout } from '../sync/cargo-metadata.js';
import { FileIndex } from '../sync/file-index.js';
import { RchError } from '../errors.js';
import { WatchedTree } from './watched-tree.js';
import type { WatchBarrier } from './watch-barrier.js';
import type { OverflowMonitor } from './watch-overflow.js';
import type { DaemonLog } from './daemon-log.js';

/** After the watch limit was reached, builds scan in full for this long before watching is tried again. */
const WATCH_RETRY_MS = 5 * 60 * 1000;

/**
 * Lifecycle of a project watcher: 'new' until the first scan, then 'watching' while events keep
 * the tree current. 'degraded' follows when the inotify watch limit was reached, and then every
 * build scans in full. 'closed' is final.
 */
export type ProjectWatcherState = 'new' | 'watching' | 'degraded' | 'closed';

export interface ProjectWatcherOptions {
  layout: ProjectLayout;
  /** The project's `exclude` patterns. */
  exclude: string[];
  indexFile: string;
  barrier: WatchBarrier;
  overflow: OverflowMonitor;
  log: DaemonLog;
}

export interface ProjectWatcherStatus {
  workspaceRoot: string;
  roots: string[];
  targetDir: string;
  state: ProjectWatcherState;
  files: number;
  folders: number;
  watches: number;
  /** Milliseconds the first full scan took, with its watches; absent before it finished. */
  readyMs?: number;
  idleSeconds: number;
}

/**
 * Snapshots of one project's tree for builds, from a watched tree and the persistent hash
 * index. Snapshots run one at a time. A build trusts the events only after the barrier has
 * passed and no overflow was suspected; otherwise the tree is scanned in full.
 */
export class ProjectWatcher {
  state: ProjectWatcherState = 'new';
  lastUsedAt = Date.now();
  private readonly tree: WatchedTree;
  private index: FileIndex | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private saving: Promise<unknown> = Promise.resolve();
  /** Reason for the next snapshot to scan in full; undefined while the events can be trusted. */
  private fullScanReason: string | undefined = 'first build of the project';
  private seenOverflows: number;
  private degradedAt = 0;
  private readyMs: number | undefined;

  constructor(private readonly options: ProjectWatcherOptions) {
    this.tree = new WatchedTree({
      roots: options.layout.roots,
      excludedFolders: [options.layout.targetDir],
      extraExcludes: options.exclude,
      onEvent: () => options.overflow.noteEvent(),
      onWatchFailure: (error) => this.onWatchFailure(error),
    });
    this.seenOverflows = options.overflow.generation;
  }

  snapshot(): Promise<TreeSnapshot> {
    const run = this.queue.then(() => this.takeSnapshot());
    this.queue = run.catch(() => undefined);
    return run;
  }

  status(): ProjectWatcherStatus {
    let files = 0;
    for (const entry of this.tree.entries.values()) if (entry.type !== 'dir') files++;
    const { workspaceRoot, roots, targetDir } = this.options.layout;
    return {
      workspaceRoot,
      roots,
      targetDir,
      state: this.state,
      files,
      folders: this.tree.folderCount,
      watches: this.tree.watchCount,
      ...(this.readyMs === undefined ? {} : { readyMs: this.readyMs }),
      idleSeconds: Math.round((Date.now() - this.lastUsedAt) / 1000),
    };
  }

  /** Waits for a running snapshot, then closes the watches and saves the hash index. */
  async close(): Promise<void> {
    this.state = 'closed';
    await this.queue;
    this.tree.close();
    await this.saveIndex();
  }

  private async takeSnapshot(): Promise<TreeSnapshot> {
    if (this.state === 'closed') throw new RchError('RCH_INTERNAL', `daemon: the watcher of ${this.options.layout.workspaceRoot} is closed`);
    this.lastUsedAt = Date.now();
    const startNs = BigInt(Date.now()) * 1_000_000n;
    this.index ??= await FileIndex.load(this.options.indexFile);
    // An event shows a file was written, perhaps within the clock tick of the cached mtime.
    for (const file of await this.updateTree()) this.index.forget(file);
    const entries = new Map(this.tree.entries);
    const fingerprints = await this.index.fingerprint(entries, startNs);
    void this.saveIndex();
    return { entries, fingerprints };
  }

  /** Brings the tree up to date from events when they can be trusted, else by a full scan. */
  private async updateTree(): Promise<string[]> {
    if (this.fullScanReason === undefined) {
      if (!(await this.options.barrier.pass())) this.fullScanReason = 'the event barrier did not pass';
      else if (this.options.overflow.generation !== this.seenOverflows) this.fullScanReason = 'the inotify queue may have overflowed';
    }
    if (this.fullScanReason === undefined) {
      this.seenOverflows = this.options.overflow.generation;
      try {
        return await this.tree.refresh();
      } catch (error) {
        this.options.log.error(error, 'project %s: reading changed paths failed', this.options.layout.workspaceRoot);
        this.fullScanReason = 'reading changed paths failed';
      }
    }
    await this.scanAll(this.fullScanReason ?? 'unknown');
    return [];
  }

  private async scanAll(reason: string): Promise<void> {
    const retryWatching = this.state !== 'degraded' || Date.now() - this.degradedAt >= WATCH_RETRY_MS;
    if (retryWatching && this.state === 'degraded') this.state = 'watching';
    // Cleared first, so that a failure during the scan requests another one.
    this.fullScanReason = undefined;
    this.seenOverflows = this.options.overflow.generation;
    const started = Date.now();
    await this.tree.scanAll(retryWatching);
    if (this.state === 'degraded') {
      this.tree.close();
      this.fullScanReason ??= 'watching is off after the watch limit was reached';
    } else {
      this.state = 'watching';
    }
    const elapsedMs = Date.now() - started;
    this.readyMs ??= elapsedMs;
    const { workspaceRoot } = this.options.layout;
    this.options.log.info(
      'project %s: full scan (%s) found %d entries in %d folders in %d ms, state %s',
      workspaceRoot, reason, this.tree.entries.size, this.tree.folderCount, elapsedMs, this.state,
    );
  }

  private onWatchFailure(error: Error): void {
    const code = (error as NodeJS.ErrnoException).code;
    const root = this.options.layout.workspaceRoot;
    this.fullScanReason = `a watch failed (${code ?? error.message})`;
    if (code === 'ENOSPC' || code === 'EMFILE') {
      if (this.state !== 'degraded') {
        this.options.log.error(error, 'project %s: inotify limit reached, builds scan in full (raise fs.inotify.max_user_watches)', root);
      }
      this.state = 'degraded';
      this.degradedAt = Date.now();
      return;
    }
    this.options.log.error(error, 'project %s: a watch failed, the next build scans in full', root);
  }

  private saveIndex(): Promise<unknown> {
    const index = this.index;
    if (!index) return this.saving;
    this.saving = this.saving
      .then(() => index.saveIfChanged())
      .catch((error: unknown) => this.options.log.error(error, 'project %s: saving the hash index failed', this.options.layout.workspaceRoot));
    return this.saving;
  }
}
