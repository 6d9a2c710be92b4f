import path from 'node:path';

/** Maps a local absolute path to its worker path: `<remote_base>/<absolute local path>`. */
export function toRemotePath(remoteBase: string, localPath: string): string {
  return path.posix.join(remoteBase, localPath);
}

/** Names a local absolute path inside a tar archive that is extracted at `<remote_base>`. */
export function toArchiveName(localPath: string): string {
  return localPath.replace(/^\/+/, '');
}

/** Expands a leading `~/` with the worker's `$HOME`, as shell code for a remote script. */
export const RESOLVE_BASE_SH = `case $1 in "~") base=$HOME ;; "~/"*) base=$HOME/\${1#??} ;; *) base=$1 ;; esac`;
