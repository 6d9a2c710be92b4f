import type { SshConnection } from '../ssh/connection.js';
import type { TreeEntry } from './scan-tree.js';
import { RESOLVE_BASE_SH, toArchiveName } from '../remote/remote-path.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';

/**
 * Lists the worker's copy of the roots. Each record is `type size mtime mode`, the path and the
 * link target, every field ended by NUL. The remote target directory and `.git` are skipped.
 */
const LISTING_SH = `${RESOLVE_BASE_SH}
prune=$2
shift 2
cd "$base" 2>/dev/null || exit 0
for root do
  [ -e "./$root" ] || continue
  find "./$root" -path "./$prune" -prune -o -name .git -prune -o -printf '%y %s %T@ %m\\0%p\\0%l\\0'
done`;

/** Formats nanoseconds since the epoch the way GNU find prints `%T@`. */
export function formatFindTime(mtimeNs: bigint): string {
  const seconds = mtimeNs / 1_000_000_000n;
  const fraction = (mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${seconds}.${fraction}0`;
}

/**
 * Lists what the worker has under the roots and returns, per local path, the local
 * fingerprint when the worker's copy matches the local entry by type, size, mtime and mode,
 * or a placeholder of the same kind that forces a resend.
 */
export async function reconcileFromListing(options: {
  connection: SshConnection;
  remoteBase: string;
  roots: string[];
  /** Local target directory; its worker twin is left out of listings. */
  targetDir: string;
  entries: Map<string, TreeEntry>;
  fingerprints: Map<string, string>;
}): Promise<Record<string, string>> {
  const roots = options.roots.map(toArchiveName);
  const command = shCommand(LISTING_SH, 'rch-list', [options.remoteBase, toArchiveName(options.targetDir), ...roots]);
  const result = await options.connection.capture(command);
  if (result.exitCode !== 0) {
    throw new RchError('RCH_SYNC', `listing the worker's copy failed (exit ${result.exitCode ?? result.exitSignal}): ${result.stderr.trim()}`, {
      hint: `check free space and permissions under remote_base on worker ${options.connection.workerId}`,
    });
  }

  const held: Record<string, string> = {};
  const fields = result.stdout.toString('utf8').split('\0');
  for (let index = 0; index + 2 < fields.length; index += 3) {
    const [type = '', size = '', mtime = '', mode = ''] = (fields[index] as string).split(' ');
    const localPath = (fields[index + 1] as string).replace(/^\./, '');
    const linkTarget = fields[index + 2] as string;
    const entry = options.entries.get(localPath);
    const fingerprint = options.fingerprints.get(localPath);
    let kind = 'f';
    if (type === 'd' || type === 'l') kind = type;
    held[localPath] =
      entry && fingerprint && matchesLocal(entry, { type, size, mtime, mode, linkTarget }) ? fingerprint : `${kind}:?`;
  }
  return held;
}

function matchesLocal(
  entry: TreeEntry,
  remote: { type: string; size: string; mtime: string; mode: string; linkTarget: string },
): boolean {
  switch (entry.type) {
    case 'dir':
      return remote.type === 'd';
    case 'symlink':
      return remote.type === 'l' && remote.linkTarget === entry.target;
    case 'file':
      return (
        remote.type === 'f' &&
        Number(remote.size) === entry.size &&
        remote.mtime === formatFindTime(entry.mtimeNs) &&
        (parseInt(remote.mode, 8) & 0o777) === (entry.mode & 0o777)
      );
  }
}
