import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TreeEntry } from './scan-tree.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { mapLimit } from '../util/map-limit.js';
import { createLogger } from '../debug.js';

const log = createLogger('index');

const INDEX_VERSION = 1;
/** Files read at once while hashing. */
const HASH_CONCURRENCY = 16;
/**
 * A file whose mtime is this close to the scan's start may be written again within the same
 * clock tick without its mtime changing, so its cached hash is not trusted next time.
 */
const RACY_WINDOW_NS = 2_000_000_000n;

interface CachedHash {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  hash: string;
  racy: boolean;
}

interface IndexFile {
  version: number;
  files: Record<string, CachedHash>;
}

/**
 * Content hashes of local files, cached by size, mtime, ctime and inode so that a rescan
 * reads only the files whose metadata changed.
 */
export class FileIndex {
  /** Whether the hashes differ from what the file on disk holds. */
  private changed = false;

  private constructor(
    private readonly file: string,
    private cached: Record<string, CachedHash>,
  ) {}

  static async load(file: string): Promise<FileIndex> {
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as IndexFile;
      if (parsed.version === INDEX_VERSION) return new FileIndex(file, parsed.files);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log('ignoring unreadable index %s: %s', file, error);
    }
    return new FileIndex(file, {});
  }

  /** Returns a fingerprint for every entry: content hash and mode for files, target for links. */
  async fingerprint(entries: Map<string, TreeEntry>, scanStartNs: bigint): Promise<Map<string, string>> {
    const fingerprints = new Map<string, string>();
    const next: Record<string, CachedHash> = {};
    const toHash: Array<[string, Extract<TreeEntry, { type: 'file' }>]> = [];

    for (const [absolute, entry] of entries) {
      if (entry.type === 'dir') fingerprints.set(absolute, 'd');
      else if (entry.type === 'symlink') fingerprints.set(absolute, `l:${entry.target}`);
      else {
        const cached = this.cached[absolute];
        if (cached && !cached.racy && matches(cached, entry)) {
          next[absolute] = cached;
          fingerprints.set(absolute, fileFingerprint(cached.hash, entry.mode));
        } else {
          toHash.push([absolute, entry]);
        }
      }
    }

    log('hashing %d of %d files', toHash.length, entries.size);
    await mapLimit(toHash, HASH_CONCURRENCY, async ([absolute, entry]) => {
      let hash: string;
      try {
        hash = await hashFile(absolute);
      } catch (error) {
        // A file deleted since the scan is treated as deleted: it gets no fingerprint.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      next[absolute] = {
        size: entry.size,
        mtimeNs: String(entry.mtimeNs),
        ctimeNs: String(entry.ctimeNs),
        ino: String(entry.ino),
        hash,
        racy: scanStartNs - entry.mtimeNs < RACY_WINDOW_NS,
      };
      fingerprints.set(absolute, fileFingerprint(hash, entry.mode));
    });
    if (toHash.length > 0 || Object.keys(this.cached).length !== Object.keys(next).length) this.changed = true;
    this.cached = next;
    return fingerprints;
  }

  /** Drops the cached hash of `absolute`, so the next fingerprint reads the file again. */
  forget(absolute: string): void {
    if (!Object.hasOwn(this.cached, absolute)) return;
    delete this.cached[absolute];
    this.changed = true;
  }

  async save(): Promise<void> {
    const content: IndexFile = { version: INDEX_VERSION, files: this.cached };
    this.changed = false;
    await writeFileAtomic(this.file, JSON.stringify(content), { mode: 0o600 });
  }

  /** Saves only when a fingerprint or `forget` changed the hashes since the last save. */
  async saveIfChanged(): Promise<boolean> {
    if (!this.changed) return false;
    await this.save();
    return true;
  }
}

function matches(cached: CachedHash, entry: Extract<TreeEntry, { type: 'file' }>): boolean {
  return (
    cached.size === entry.size &&
    cached.mtimeNs === String(entry.mtimeNs) &&
    cached.ctimeNs === String(entry.ctimeNs) &&
    cached.ino === String(entry.ino)
  );
}

/** Executable bits change what a worker must hold, so they belong to the fingerprint. */
function fileFingerprint(hash: string, mode: number): string {
  return `f:${hash}:${(mode & 0o777).toString(8)}`;
}

export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex').slice(0, 32)));
  });
}

/** Index file for a project, named after its workspace root. */
export function indexFileFor(cacheFolder: string, projectKey: string): string {
  return path.join(cacheFolder, 'index', `${projectKey}.json`);
}
