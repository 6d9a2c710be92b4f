import path from 'node:path';

/** Changes a sync makes on the worker. */
export interface SyncDelta {
  /** Paths to write (files, folders, links), parents before children. */
  send: string[];
  /** Paths to remove before writing, with no path inside another one of the list. */
  remove: string[];
}

function kindOf(fingerprint: string): string {
  return fingerprint.slice(0, 1);
}

/**
 * Compares the worker's copy with the local fingerprints. A path whose kind changed (a
 * file that became a folder, say) is removed first and then sent again.
 */
export function computeDelta(local: Map<string, string>, held: Record<string, string>): SyncDelta {
  const send: string[] = [];
  const removals = new Set<string>();

  for (const [file, fingerprint] of local) {
    const previous = held[file];
    if (previous === fingerprint) continue;
    send.push(file);
    if (previous !== undefined && kindOf(previous) !== kindOf(fingerprint)) removals.add(file);
  }
  for (const file of Object.keys(held)) {
    if (!local.has(file)) removals.add(file);
  }

  send.sort();
  const remove = [...removals].filter((file) => !hasAncestorIn(file, removals)).sort();
  return { send, remove };
}

function hasAncestorIn(file: string, folders: Set<string>): boolean {
  for (let parent = path.dirname(file); parent !== path.dirname(parent); parent = path.dirname(parent)) {
    if (folders.has(parent)) return true;
  }
  return false;
}
