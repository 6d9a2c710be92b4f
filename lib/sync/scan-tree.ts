import fs from 'node:fs/promises';
import type { Dirent, BigIntStats } from 'node:fs';
import path from 'node:path';
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

/** Folders skipped at any depth, whatever the ignore files say. */
const ALWAYS_SKIPPED = new Set(['.git']);

/** Cargo writes this file into every target directory it creates. */
const TARGET_DIR_TAG = 'CACHEDIR.TAG';

/** True when `candidate` is `folder` or lies inside it. */
export function isInside(candidate: string, folder: string): boolean {
  return candidate === folder || candidate.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep);
}

/**
 * Lists everything under the roots that a worker needs, applying the ignore rules. A symbolic
 * link that stays inside the roots is kept as a link (made relative). One that leads out is
 * replaced by the file it points to, or left out when it points to a folder or nowhere.
 */
export async function scanTree(options: ScanOptions): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>();
  const excluded = options.excludedFolders.map((folder) => path.resolve(folder));

  const walk = async (folder: string, parentScope: IgnoreScope): Promise<void> => {
    let children: Dirent[];
    try {
      children = await fs.readdir(folder, { withFileTypes: true });
    } catch (error) {
      // A folder removed or made unreadable during the scan is treated as absent.
      log('cannot read %s: %s', folder, error);
      return;
    }
    if (children.some((child) => child.name === TARGET_DIR_TAG && child.isFile())) {
      if (!options.roots.includes(folder)) {
        entries.delete(folder);
        return;
      }
    }
    const scope = await parentScope.enter(folder);
    const subfolders: string[] = [];

    await Promise.all(
      children.map(async (child) => {
        const absolute = path.join(folder, child.name);
        if (ALWAYS_SKIPPED.has(child.name) && child.isDirectory()) return;
        if (excluded.some((excludedFolder) => isInside(absolute, excludedFolder))) return;
        if (scope.isIgnored(absolute, child.isDirectory())) return;

        let stats: BigIntStats;
        try {
          stats = await fs.lstat(absolute, { bigint: true });
        } catch {
          return;
        }
        if (stats.isDirectory()) {
          entries.set(absolute, { type: 'dir', mode: Number(stats.mode & 0o7777n), mtimeNs: stats.mtimeNs });
          subfolders.push(absolute);
        } else if (stats.isFile()) {
          entries.set(absolute, fileEntry(stats));
        } else if (stats.isSymbolicLink()) {
          const entry = await resolveLink(absolute, options.roots);
          if (entry) entries.set(absolute, entry);
        }
      }),
    );
    await Promise.all(subfolders.map((subfolder) => walk(subfolder, scope)));
  };

  await Promise.all(
    options.roots.map(async (root) => {
      const stats = await fs.stat(root);
      entries.set(root, { type: 'dir', mode: Number(stats.mode & 0o7777), mtimeNs: BigInt(Math.round(stats.mtimeMs * 1e6)) });
      await walk(root, IgnoreScope.atRoot(root, options.extraExcludes));
    }),
  );
  return entries;
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

async function resolveLink(link: string, roots: string[]): Promise<TreeEntry | undefined> {
  const target = await fs.readlink(link);
  const resolved = path.resolve(path.dirname(link), target);
  if (roots.some((root) => isInside(resolved, root))) {
    const linkStats = await fs.lstat(link, { bigint: true });
    const relativeTarget = path.isAbsolute(target) ? path.relative(path.dirname(link), resolved) || '.' : target;
    return { type: 'symlink', target: relativeTarget, mtimeNs: linkStats.mtimeNs };
  }
  try {
    const stats = await fs.stat(link, { bigint: true });
    if (stats.isFile()) return fileEntry(stats);
  } catch {
    // A dangling link that leads out of the roots has nothing to send.
  }
  log('leaving out %s: it links to %s, outside the synced folders', link, target);
  return undefined;
}
