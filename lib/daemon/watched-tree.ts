import { watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TARGET_DIR_TAG, TreeScanner, type ScanOptions, type TreeEntry } from '../sync/scan-tree.js';
import type { IgnoreScope } from '../sync/ignore-rules.js';
import { mapLimit } from '../util/map-limit.js';
import { createLogger } from '../debug.js';

const log = createLogger('daemon:tree');

/** Paths refreshed at once after a batch of events. */
const REFRESH_CONCURRENCY = 16;
/** Files whose change alters which paths are sent from their folder down. */
const RULE_FILES = new Set(['.gitignore', '.rchignore', TARGET_DIR_TAG]);

/** One folder the tree has listed, or found tagged by cargo, and its watch. */
interface FolderState {
  /** Inode of the folder just before its watch was opened. */
  ino: bigint | undefined;
  watch: FSWatcher | undefined;
  /** Rules in force inside the folder; undefined for a tagged folder. */
  scope: IgnoreScope | undefined;
  /** The folder contains CACHEDIR.TAG, so only the tag's removal matters. */
  tagged: boolean;
}

export interface WatchedTreeOptions extends ScanOptions {
  /** Called synchronously for every delivered event (for overflow detection). */
  onEvent(): void;
  /** Called when a watch cannot be opened or fails; the tree then needs a full scan. */
  onWatchFailure(error: Error): void;
}

/**
 * The entries of a project's roots, kept current by one fs.watch per listed folder. Every
 * folder is watched before it is listed, so a change after the listing is reported, and a
 * change before it is in the listing. An event marks the named path dirty. `refresh` reads
 * dirty paths again with the scanner's rules. It lists a folder again, with new watches, when
 * its name was created, removed or renamed, or when its ignore files or tag changed.
 * NOTE: inotify reports a write to the watched folder of the path it went through, so a file
 * with a second hard link outside the roots, written through that link, reports nothing here
 * until the next full scan.
 */
export class WatchedTree {
  readonly entries = new Map<string, TreeEntry>();
  /** Names below each folder: entries and tagged folders, for removing whole subtrees. */
  private readonly children = new Map<string, Set<string>>();
  private readonly folders = new Map<string, FolderState>();
  /** Paths reported by events since the last refresh; true requests a new listing of the folder. */
  private dirty = new Map<string, boolean>();
  /** Folders without a working watch, or that could not be listed: listed again at every refresh. */
  private readonly unwatched = new Set<string>();
  /** Links that resolve outside the roots, where no watch reaches: read again at every refresh. */
  private readonly externalLinks = new Set<string>();
  private readonly scanner: TreeScanner;
  /** False after a watch failed: listings then open no watches until the next full scan. */
  private watching = true;

  constructor(private readonly options: WatchedTreeOptions) {
    const sink = {
      set: (absolute: string, entry: TreeEntry) => this.setEntry(absolute, entry),
      delete: (absolute: string) => this.entries.delete(absolute),
    };
    this.scanner = new TreeScanner(options, sink, {
      beforeList: (folder) => this.watchFolder(folder),
      onListed: (folder, scope) => this.updateFolder(folder, { scope }),
      onTagged: (folder) => this.updateFolder(folder, { tagged: true }),
      onUnreadable: (folder) => this.unwatched.add(folder),
      onExternalLink: (link) => this.externalLinks.add(link),
    });
  }

  get folderCount(): number {
    return this.folders.size;
  }

  get watchCount(): number {
    let count = 0;
    for (const state of this.folders.values()) if (state.watch) count++;
    return count;
  }

  /** Forgets everything and scans the roots again; `watch` false opens no watches. */
  async scanAll(watch: boolean): Promise<void> {
    this.closeWatches();
    this.entries.clear();
    this.children.clear();
    this.folders.clear();
    this.dirty.clear();
    this.unwatched.clear();
    this.externalLinks.clear();
    this.watching = watch;
    await Promise.all(this.options.roots.map((root) => this.scanner.scanRoot(root)));
  }

  /**
   * Reads again every path reported since the last call, shallow paths first, so that a
   * folder is settled before the paths inside it. Returns the paths that events reported.
   */
  async refresh(): Promise<string[]> {
    const reported = this.dirty;
    this.dirty = new Map();
    const batch = new Map(reported);
    for (const folder of this.unwatched) batch.set(folder, true);
    for (const link of this.externalLinks) if (!batch.has(link)) batch.set(link, false);

    const relisted = new Set([...batch].filter(([, relist]) => relist).map(([absolute]) => absolute));
    const levels = new Map<number, string[]>();
    for (const absolute of batch.keys()) {
      if (hasAncestorIn(absolute, relisted)) continue;
      const depth = absolute.split(path.sep).length;
      const level = levels.get(depth);
      if (level) level.push(absolute);
      else levels.set(depth, [absolute]);
    }
    log('refreshing %d paths (%d to list again)', batch.size, relisted.size);
    for (const depth of [...levels.keys()].sort((left, right) => left - right)) {
      await mapLimit(levels.get(depth) ?? [], REFRESH_CONCURRENCY, (absolute) =>
        this.refreshPath(absolute, batch.get(absolute) ?? true),
      );
    }
    return [...reported.keys()];
  }

  close(): void {
    this.closeWatches();
  }

  private async refreshPath(absolute: string, relist: boolean): Promise<void> {
    if (this.options.roots.includes(absolute)) {
      if (relist) {
        this.removeSubtree(absolute);
        await this.scanner.scanRoot(absolute);
      } else {
        this.entries.set(absolute, await this.scanner.readRoot(absolute));
      }
      return;
    }
    const parent = this.folders.get(path.dirname(absolute));
    // The parent is not listed: the path lies in an ignored, tagged or removed folder.
    if (parent?.scope === undefined) return;

    let stats;
    try {
      stats = await fs.lstat(absolute, { bigint: true });
    } catch {
      this.removeSubtree(absolute);
      return;
    }
    const isDirectory = stats.isDirectory();
    if (this.scanner.isExcluded(absolute, isDirectory, parent.scope)) {
      this.removeSubtree(absolute);
      return;
    }
    const known = this.folders.get(absolute);
    if (isDirectory && !relist && known?.scope !== undefined && known.ino === stats.ino) {
      this.entries.set(absolute, { type: 'dir', mode: Number(stats.mode & 0o7777n), mtimeNs: stats.mtimeNs });
      return;
    }
    this.removeSubtree(absolute);
    const entry = await this.scanner.readEntry(absolute);
    if (entry === undefined) return;
    this.setEntry(absolute, entry);
    if (entry.type === 'dir') await this.scanner.scanFolder(absolute, parent.scope);
  }

  private setEntry(absolute: string, entry: TreeEntry): void {
    this.entries.set(absolute, entry);
    this.linkChild(absolute);
  }

  private linkChild(absolute: string): void {
    const parent = path.dirname(absolute);
    let names = this.children.get(parent);
    if (!names) this.children.set(parent, (names = new Set()));
    names.add(path.basename(absolute));
  }

  /** Drops a path, everything below it and their watches. */
  private removeSubtree(absolute: string): void {
    this.children.get(path.dirname(absolute))?.delete(path.basename(absolute));
    const stack = [absolute];
    while (stack.length > 0) {
      const current = stack.pop() as string;
      this.entries.delete(current);
      this.unwatched.delete(current);
      this.externalLinks.delete(current);
      const state = this.folders.get(current);
      if (state) {
        state.watch?.close();
        this.folders.delete(current);
      }
      const names = this.children.get(current);
      if (names) {
        for (const name of names) stack.push(path.join(current, name));
        this.children.delete(current);
      }
    }
  }

  private async watchFolder(folder: string): Promise<void> {
    this.folders.get(folder)?.watch?.close();
    const ino = await fs.lstat(folder, { bigint: true }).then((stats) => stats.ino, () => undefined);
    let handle: FSWatcher | undefined;
    if (this.watching) {
      try {
        handle = watch(folder, { persistent: false }, (event, filename) => this.onEvent(folder, event, filename));
        handle.on('error', (error) => this.failWatch(folder, error));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EMFILE') this.failWatch(folder, error as Error);
        else log('cannot watch %s: %s', folder, error);
      }
    }
    this.folders.set(folder, { ino, watch: handle, scope: undefined, tagged: false });
    if (!this.options.roots.includes(folder)) this.linkChild(folder);
    if (handle) this.unwatched.delete(folder);
    else this.unwatched.add(folder);
  }

  private updateFolder(folder: string, change: Partial<FolderState>): void {
    const state = this.folders.get(folder);
    if (state) Object.assign(state, change);
  }

  private failWatch(folder: string, error: Error): void {
    log('watch of %s failed: %s', folder, error);
    this.watching = false;
    this.options.onWatchFailure(error);
  }

  /** Runs synchronously in the fs.watch callback, so its effect is in place when a later barrier passes. */
  private onEvent(folder: string, event: string, filename: string | null): void {
    this.options.onEvent();
    const state = this.folders.get(folder);
    if (state?.tagged) {
      if (filename === TARGET_DIR_TAG) this.markDirty(folder, true);
      return;
    }
    if (!filename) {
      this.markDirty(folder, true);
      return;
    }
    // libuv reports 'rename' for created, removed and moved names, and 'change' for content
    // and attributes. A name that was created or moved may be a different folder now.
    const renamed = event === 'rename';
    this.markDirty(path.join(folder, filename), renamed);
    if (RULE_FILES.has(filename)) this.markDirty(folder, true);
    // A name created or removed changes the folder's mtime, which the parent's watch does not report.
    else if (renamed) this.markDirty(folder, false);
    // An event about the watched folder itself carries the folder's own name.
    if (filename === path.basename(folder)) this.markDirty(folder, renamed);
  }

  private markDirty(absolute: string, relist: boolean): void {
    if (relist || !this.dirty.has(absolute)) this.dirty.set(absolute, relist);
  }

  private closeWatches(): void {
    for (const state of this.folders.values()) state.watch?.close();
  }
}

function hasAncestorIn(absolute: string, folders: Set<string>): boolean {
  for (let parent = path.dirname(absolute); parent !== path.dirname(parent); parent = path.dirname(parent)) {
    if (folders.has(parent)) return true;
  }
  return false;
}
