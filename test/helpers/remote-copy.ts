import fs from 'node:fs/promises';
import path from 'node:path';

/** Returns the worker's copy of a local path: `<remote_base>/<absolute local path>`. */
export function workerCopyOf(remoteBase: string, localPath: string): string {
  return path.join(remoteBase, localPath);
}

/** Change time in nanoseconds of every file under `folder`, by relative path; a rewrite changes it. */
export async function snapshotChangeTimes(folder: string): Promise<Map<string, bigint>> {
  const snapshot = new Map<string, bigint>();
  const visit = async (relative: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(folder, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (entry.name !== 'target') await visit(child);
        continue;
      }
      const stats = await fs.lstat(path.join(folder, child), { bigint: true });
      snapshot.set(child, stats.ctimeNs);
    }
  };
  await visit('');
  return snapshot;
}

/** Inode and mtime of every file under `folder`; an atomic replace changes the inode. */
export async function snapshotInodes(folder: string): Promise<Map<string, string>> {
  const snapshot = new Map<string, string>();
  const visit = async (relative: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(folder, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await visit(child);
        continue;
      }
      const stats = await fs.lstat(path.join(folder, child), { bigint: true });
      snapshot.set(child, `${stats.ino}:${stats.mtimeNs}`);
    }
  };
  await visit('');
  return snapshot;
}

/** Paths whose value differs between two snapshots, including added and removed ones. */
export function changedKeys<T>(before: Map<string, T>, after: Map<string, T>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => before.get(key) !== after.get(key)).sort();
}
