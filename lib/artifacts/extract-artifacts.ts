import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { isInside } from '../util/is-inside.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { temporaryPathFor } from '../util/atomic-write.js';
import { RchError } from '../errors.js';

export interface ExtractSummary {
  files: number;
  bytes: number;
}

export interface ExtractOptions {
  /** Called after each entry is in place, with the running totals. */
  onProgress?: (summary: Readonly<ExtractSummary>) => void;
}

/**
 * Writes a tar stream of artifacts into the local target directory. Every entry is written to
 * a temporary file beside its destination and renamed into place, keeping mode and mtime.
 * Entries that would land outside the target directory (`..`, absolute names, links leading
 * out, folders that are links leading out) are rejected and stop the extraction.
 */
export async function extractArtifacts(archive: Readable, targetDir: string, options: ExtractOptions = {}): Promise<ExtractSummary> {
  await fs.mkdir(targetDir, { recursive: true });
  const realTarget = await fs.realpath(targetDir);
  const summary: ExtractSummary = { files: 0, bytes: 0 };
  const extract = tar.extract();

  const consume = (async () => {
    try {
      for await (const entry of extract) {
        await writeEntry(entry as unknown as Readable, entry.header, realTarget, summary);
        options.onProgress?.(summary);
        entry.resume();
      }
    } catch (error) {
      extract.destroy(error as Error);
      archive.destroy();
      throw error;
    }
  })();
  // Both sides must settle before returning: the entry being written removes its temporary
  // file only when its own write fails, which may come after the pipeline's error.
  const [piped, consumed] = await Promise.allSettled([pipeline(archive, extract), consume]);
  if (consumed.status === 'rejected') throw consumed.reason;
  if (piped.status === 'rejected') throw piped.reason;
  return summary;
}

async function writeEntry(entry: Readable, header: tar.Header, target: string, summary: ExtractSummary): Promise<void> {
  const destination = resolveInside(target, header.name);
  if (header.type === 'directory') {
    await ensureFolderInside(target, destination);
    return;
  }
  if (header.type !== 'file' && header.type !== 'symlink' && header.type !== 'link' && header.type !== 'contiguous-file') {
    return;
  }
  await ensureFolderInside(target, path.dirname(destination));
  const temporary = temporaryPathFor(destination);
  try {
    if (header.type === 'symlink') {
      const linkTarget = header.linkname ?? '';
      const resolved = path.resolve(path.dirname(destination), linkTarget);
      if (path.isAbsolute(linkTarget) || !isInside(resolved, target)) {
        throw unsafe(header.name, `it links to ${linkTarget}, outside the target directory`);
      }
      await fs.symlink(linkTarget, temporary);
    } else if (header.type === 'link') {
      await fs.link(resolveInside(target, header.linkname ?? ''), temporary);
    } else {
      await pipeline(entry, createWriteStream(temporary, { mode: 0o600 }));
      await fs.chmod(temporary, (header.mode ?? 0o644) & 0o7777);
      summary.bytes += header.size ?? 0;
    }
    // A hard link shares its inode, and so its mtime, with the file it links to.
    if (header.type !== 'symlink' && header.type !== 'link') {
      const mtime = parseMtime(header);
      await fs.utimes(temporary, mtime, mtime);
    }
    await fs.rename(temporary, destination);
    summary.files += 1;
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** Seconds since the epoch, from the pax record when present (it keeps sub-second precision). */
function parseMtime(header: tar.Header): number {
  const pax = (header as { pax?: Record<string, string> }).pax;
  if (pax?.mtime) return Number(pax.mtime);
  return (header.mtime?.getTime() ?? Date.now()) / 1000;
}


function resolveInside(target: string, name: string): string {
  if (name === '' || path.isAbsolute(name) || name.split('/').includes('..')) {
    throw unsafe(name, 'its name is absolute or contains ".."');
  }
  const destination = path.resolve(target, name);
  if (!isInside(destination, target) || destination === target) throw unsafe(name, 'it resolves outside the target directory');
  return destination;
}

/**
 * Creates `folder` after checking that its deepest existing ancestor, with links resolved, is
 * inside the target, so that a link inside the target never leads a write outside it.
 */
async function ensureFolderInside(target: string, folder: string): Promise<void> {
  let existing = folder;
  for (;;) {
    try {
      existing = await fs.realpath(existing);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      existing = path.dirname(existing);
    }
  }
  if (!isInside(existing, target)) throw unsafe(folder, `the folder resolves to ${existing}, outside the target directory`);
  await fs.mkdir(folder, { recursive: true });
}

function unsafe(name: string, reason: string): RchError {
  return new RchError('RCH_ARTIFACT_UNSAFE', `rejected artifact ${JSON.stringify(name)} from the worker: ${reason}`, {
    kind: 'transport',
    hint: 'inspect the worker; rch never writes outside the target directory',
  });
}
