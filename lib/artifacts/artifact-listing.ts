import fs from 'node:fs/promises';
import path from 'node:path';
import type { SshConnection } from '../ssh/connection.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';

/** A file or link under the worker's target directory. */
export interface RemoteArtifact {
  /** Path relative to the target directory. */
  path: string;
  type: 'file' | 'symlink';
  size: number;
  /** Seconds since the epoch with fraction, as GNU find prints `%T@`. */
  mtime: string;
  mode: number;
  linkTarget: string;
}

/** Timestamps within this many seconds count as equal: Node sets mtimes through a double. */
const MTIME_TOLERANCE_SECONDS = 2e-6;

/** Lists files and links under the target directory, skipping every `incremental` folder. */
const LIST_TARGET_SH = `cd "$1" 2>/dev/null || exit 0
find . -name incremental -type d -prune -o \\( -type f -o -type l \\) -printf '%y %s %T@ %m\\0%P\\0%l\\0'`;

/**
 * Files that come back only while the local target directory has none. `.rustc_info.json` is
 * cargo's cache of what rustc reports, and any valid copy serves a local cargo. Cargo 1.95
 * rewrote it on every no-op build of the benchmarks' packaged-crates project on the worker,
 * which cost each such build one more command to fetch it.
 */
const KEPT_LOCAL_COPIES = new Set(['.rustc_info.json']);

export async function listRemoteArtifacts(connection: SshConnection, remoteTargetDir: string): Promise<RemoteArtifact[]> {
  const result = await connection.capture(shCommand(LIST_TARGET_SH, 'rch-list-target', [remoteTargetDir]));
  if (result.exitCode !== 0) {
    throw new RchError('RCH_ARTIFACTS', `listing ${remoteTargetDir} on worker ${connection.workerId} failed: ${result.stderr.trim()}`);
  }
  const fields = result.stdout.toString('utf8').split('\0');
  const artifacts: RemoteArtifact[] = [];
  for (let index = 0; index + 2 < fields.length; index += 3) {
    const [type = '', size = '0', mtime = '0', mode = '0'] = (fields[index] as string).split(' ');
    artifacts.push({
      path: fields[index + 1] as string,
      type: type === 'l' ? 'symlink' : 'file',
      size: Number(size),
      mtime,
      mode: parseInt(mode, 8),
      linkTarget: fields[index + 2] as string,
    });
  }
  return artifacts;
}

/** Keeps the artifacts whose local copy is missing or differs in type, size, mtime, mode or link target. */
export async function selectChangedArtifacts(artifacts: RemoteArtifact[], localTargetDir: string): Promise<RemoteArtifact[]> {
  const changed: RemoteArtifact[] = [];
  await Promise.all(
    artifacts.map(async (artifact) => {
      if (!(await matchesLocalCopy(artifact, path.join(localTargetDir, artifact.path)))) changed.push(artifact);
    }),
  );
  return changed.sort((left, right) => left.path.localeCompare(right.path));
}

async function matchesLocalCopy(artifact: RemoteArtifact, localPath: string): Promise<boolean> {
  try {
    const stats = await fs.lstat(localPath);
    if (KEPT_LOCAL_COPIES.has(artifact.path)) return stats.isFile();
    if (artifact.type === 'symlink') {
      return stats.isSymbolicLink() && (await fs.readlink(localPath)) === artifact.linkTarget;
    }
    return (
      stats.isFile() &&
      stats.size === artifact.size &&
      (stats.mode & 0o777) === (artifact.mode & 0o777) &&
      Math.abs(stats.mtimeMs / 1000 - Number(artifact.mtime)) <= MTIME_TOLERANCE_SECONDS
    );
  } catch {
    return false;
  }
}
