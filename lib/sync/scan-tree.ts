import fs from 'node:fs/promises';
import type { Dirent, BigIntStats } from 'node:fs';
import path from 'node:path';
import { isInside } from '../util/is-inside.js';
import { IgnoreScope } from './ignore-rules.js';
import { createLogger } from '../debug.js';

const log = createLogger('scan');

/** A file, folder or symbolic link found under a sync root, keyed elsewhere by absolute path. */
export type TreeEntry =
  | { type: 'file'; size: number; mtimeNs: bigint; mode: number; ino: bigint; ctimeNs: bigint }
  | { type: 'dir'; mode: number; mtimeNs: bigint }
  | { type: 'symlink'; target: string; mtimeNs: bigint };

export interface ScanOptions {
  roots: string[];
  /** Folders never sent, such as the resolved target directory. */
  excludedFolders: string[];
  /** gitignore-style patterns from the project's configuration. */
  extraExcludes: string[];
}

/** Destination of a scan's entries. A `Map` is one, and the daemon's watched tree is another. */
export interface ScanSink {
  set(absolute: string, entry: TreeEntry): void;
  delete(absolute: string): void;
}

/** Calls a scan makes so that a file watcher can follow it. All are optional. */
export interface ScanHooks {
  /** Called before a folder is listed, so that a watch opened here reports every later change. */
  beforeList?(folder: string): Promise<void> | void;
  /** Called after a folder was listed, with the ignore rules in force inside it. */
  onListed?(folder: string, scope: IgnoreScope): void;
  /** Called for a folder left out because cargo tagged it as a target directory. */
  onTagged?(folder: string): void;
  /** Called for a folder that could not be listed, which the scan treats as empty. */
  onUnreadable?(folder: string): void;
  /** Called for every link that resolves outside the roots, whether or not it is kept. */
  onExternalLink?(link: string): void;
}

/** Folders skipped at any depth, whatever the ignore files say. */
export const ALWAYS_SKIPPED = new Set(['.git']);

/** Cargo writes this file into every target directory it creates. */
export const TARGET_DIR_TAG = 'CACHEDIR.TAG';


/**
 * Lists everything under the roots that a worker needs, applying the ignore rules. A symbolic
 * link that stays inside the roots is kept as a link (made relative). One that leads out is
 * replaced by the file it points to, or left out when it points to a folder or nowhere.
 */
export async function scanTree(options: ScanOptions): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>();
  const scanner = new TreeScanner(options, entries);
  await Promise.all(options.roots.map((root) => scanner.scanRoot(root)));
  return entries;
}

/**
 * The rules of one scan, usable for a whole tree or for one folder at a time. The daemon's
 * watcher rescans single changed paths with it, so that a watched tree and a full scan agree.
 */
export class TreeScanner {
  private readonly excluded: string[];

  constructor(
    private readonly options: ScanOptions,
    private readonly sink: ScanSink,
    private readonly hooks: ScanHooks = {},
  ) {
    this.excluded = options.excludedFolders.map((folder) => path.resolve(folder));
  }

  /** Returns the rules at a root, before its own ignore files are read. */
  rootScope(root: string): IgnoreScope {
    return IgnoreScope.atRoot(root, this.options.extraExcludes);
  }

  /** Records a root and everything under it. Throws when the root is missing. */
  async scanRoot(root: string): Promise<void> {
    this.sink.set(root, await this.readRoot(root));
    await this.scanFolder(root, this.rootScope(root));
  }

  /** Reads the entry of a root, which may be a link to a folder. Throws when the root is missing. */
  async readRoot(root: string): Promise<TreeEntry> {
    const stats = await fs.stat(root);
    return { type: 'dir', mode: Number(stats.mode & 0o7777), mtimeNs: BigInt(Math.round(stats.mtimeMs * 1e6)) };
  }

  /** Checks whether a path is left out, given the rules of the folder that contains it. */
  isExcluded(absolute: string, isDirectory: boolean, folderScope: IgnoreScope): boolean {
    if (ALWAYS_SKIPPED.has(path.basename(absolute)) && isDirectory) return true;
    if (this.excluded.some((excludedFolder) => isInside(absolute, excludedFolder))) return true;
    return folderScope.isIgnored(absolute, isDirectory);
  }

  /**
   * Records what is inside `folder`, whose own entry the caller has recorded. `parentScope`
   * carries the rules of the folder above it (for a root, `rootScope`).
   */
  async scanFolder(folder: string, parentScope: IgnoreScope): Promise<void> {
    await this.hooks.beforeList?.(folder);
    let children: Dirent[];
    try {
      children = await fs.readdir(folder, { withFileTypes: true });
    } catch (error) {
      // A folder removed or made unreadable during the scan is treated as absent.
      log('cannot read %s: %s', folder, error);
      this.hooks.onUnreadable?.(folder);
      return;
    }
    if (children.some((child) => child.name === TARGET_DIR_TAG && child.isFile())) {
      if (!this.options.roots.includes(folder)) {
        this.sink.delete(folder);
        this.hooks.onTagged?.(folder);
        return;
      }
    }
    const scope = await parentScope.enter(folder);
    this.hooks.onListed?.(folder, scope);
    const subfolders: string[] = [];

    await Promise.all(
      children.map(async (child) => {
        const absolute = path.join(folder, child.name);
        if (this.isExcluded(absolute, child.isDirectory(), scope)) return;
        const entry = await this.readEntry(absolute);
        if (entry === undefined) return;
        this.sink.set(absolute, entry);
        if (entry.type === 'dir') subfolders.push(absolute);
      }),
    );
    await Promise.all(subfolders.map((subfolder) => this.scanFolder(subfolder, scope)));
  }

  /** Reads one path as a scan records it, or undefined when it is gone or has nothing to send. */
  async readEntry(absolute: string): Promise<TreeEntry | undefined> {
    let stats: BigIntStats;
    try {
      stats = await fs.lstat(absolute, { bigint: true });
    } catch {
      return undefined;
    }
    if (stats.isDirectory()) return { type: 'dir', mode: Number(stats.mode & 0o7777n), mtimeNs: stats.mtimeNs };
    if (stats.isFile()) return fileEntry(stats);
    if (stats.isSymbolicLink()) return this.resolveLink(absolute);
    return undefined;
  }

  private async resolveLink(link: string): Promise<TreeEntry | undefined> {
    let target: string;
    try {
      target = await fs.readlink(link);
    } catch {
      return undefined;
    }
    const resolved = path.resolve(path.dirname(link), target);
    if (this.options.roots.some((root) => isInside(resolved, root))) {
      const linkStats = await fs.lstat(link, { bigint: true });
      const relativeTarget = path.isAbsolute(target) ? path.relative(path.dirname(link), resolved) || '.' : target;
      return { type: 'symlink', target: relativeTarget, mtimeNs: linkStats.mtimeNs };
    }
    this.hooks.onExternalLink?.(link);
    try {
      const stats = await fs.stat(link, { bigint: true });
      if (stats.isFile()) return fileEntry(stats);
    } catch {
      // A dangling link that leads out of the roots has nothing to send.
    }
    log('leaving out %s: it links to %s, outside the synced folders', link, target);
    return undefined;
  }
}

function fileEntry(stats: BigIntStats): TreeEntry {
  return {
    type: 'file',
    size: Number(stats.size),
    mtimeNs: stats.mtimeNs,
    mode: Number(stats.mode & 0o7777n),
    ino: stats.ino,
    ctimeNs: stats.ctimeNs,
  };
}
