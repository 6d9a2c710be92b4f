import fs from 'node:fs/promises';
import path from 'node:path';
import type { RemoteArtifact } from './artifact-listing.js';
import { createLogger } from '../debug.js';

const log = createLogger('artifacts');

/** Temporary files of an extraction that never finished (see util/atomic-write.ts). */
const TEMPORARY_FILE = /^\..*\.rch-[0-9a-f]+\.tmp$/;

/**
 * Removes local files that the worker's cargo no longer has, in the folders the worker has,
 * plus leftovers of interrupted extractions. Cargo deletes, for example, a fingerprint's
 * stored warnings once they are fixed; a stale local copy would make a later local cargo print
 * them again. Folders the worker never built into (another profile built locally, say) are
 * left alone. Returns the number of files removed.
 */
export async function pruneStaleArtifacts(remote: RemoteArtifact[], localTargetDir: string): Promise<number> {
  const remoteFiles = new Set(remote.map((artifact) => artifact.path));
  const remoteFolders = new Set(remote.map((artifact) => path.posix.dirname(artifact.path)));
  let removed = 0;

  for (const folder of remoteFolders) {
    if (folder.split('/').includes('incremental')) continue;
    let entries;
    try {
      entries = await fs.readdir(path.join(localTargetDir, folder), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) continue;
      const relative = folder === '.' ? entry.name : `${folder}/${entry.name}`;
      if (remoteFiles.has(relative) && !TEMPORARY_FILE.test(entry.name)) continue;
      await fs.rm(path.join(localTargetDir, relative), { force: true });
      log('removed stale artifact %s', relative);
      removed += 1;
    }
  }
  return removed;
}
