import type { SshConnection } from '../ssh/connection.js';
import type { TreeEntry } from './scan-tree.js';
import { computeDelta } from './delta.js';
import { createUploadStream } from './upload-stream.js';
import { reconcileFromListing } from './remote-listing.js';
import { newToken, type WorkerProjectState } from './worker-state.js';
import { RESOLVE_BASE_SH, toArchiveName } from '../remote/remote-path.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('sync');

/** Exit code of the apply script when the worker's marker does not match what rch expects. */
const STALE_EXIT_CODE = 3;

/**
 * Applies one upload on the worker: checks the marker (unless the expected token is `*`),
 * removes the listed paths, extracts the archive, then writes the new marker. The marker is
 * removed first, so an interrupted sync is detected as stale next time.
 */
const APPLY_SH = `set -eu
${RESOLVE_BASE_SH}
key=$2 expected=$3 next=$4
shift 4
mkdir -p "$base/.rch/projects"
cd "$base"
marker=.rch/projects/$key
IFS= read -r count
if [ "$expected" != "*" ]; then
  stale=
  [ "$(cat "$marker" 2>/dev/null || true)" = "$expected" ] || stale=1
  for root do [ -d "./$root" ] || stale=1; done
  if [ -n "$stale" ]; then cat >/dev/null; exit ${STALE_EXIT_CODE}; fi
fi
rm -f "$marker"
if [ "$count" -gt 0 ]; then head -c "$count" | xargs -0 rm -rf --; fi
tar -x -p --no-same-owner -f -
printf '%s\\n' "$next" > "$marker.tmp"
mv -f "$marker.tmp" "$marker"
printf 'base=%s\\n' "$PWD"`;

export interface SyncOptions {
  connection: SshConnection;
  /** `remote_base` as configured, possibly starting with `~/`. */
  remoteBase: string;
  projectKey: string;
  roots: string[];
  /** Local target directory; its worker twin is left out of listings. */
  targetDir: string;
  entries: Map<string, TreeEntry>;
  fingerprints: Map<string, string>;
  /** What the worker held after the last sync; undefined forces a listing of the worker's copy. */
  previous: WorkerProjectState | undefined;
}

export interface SyncResult {
  state: WorkerProjectState;
  filesSent: number;
  removed: number;
}

/** Brings the worker's copy of the roots in line with the local tree, sending only what changed. */
export async function syncProject(options: SyncOptions): Promise<SyncResult> {
  if (options.previous) {
    const attempt = await applyDelta(options, options.previous.entries, options.previous.token, options.previous.remoteBase);
    if (attempt) return attempt;
    log('worker %s: copy of %s changed behind rch, reconciling', options.connection.workerId, options.projectKey);
  }
  const held = await reconcileFromListing(options);
  const result = await applyDelta(options, held, '*', undefined);
  if (!result) throw new RchError('RCH_INTERNAL', 'sync: an unconditional apply reported a stale copy');
  return result;
}

async function applyDelta(
  options: SyncOptions,
  held: Record<string, string>,
  expectedToken: string,
  knownBase: string | undefined,
): Promise<SyncResult | undefined> {
  const delta = computeDelta(options.fingerprints, held);
  const state = (token: string, remoteBase: string): WorkerProjectState => ({
    version: 1,
    token,
    remoteBase,
    entries: Object.fromEntries(options.fingerprints),
  });
  if (delta.send.length === 0 && delta.remove.length === 0 && knownBase !== undefined) {
    return { state: state(expectedToken, knownBase), filesSent: 0, removed: 0 };
  }

  log('sending %d paths, removing %d', delta.send.length, delta.remove.length);
  const token = newToken();
  const command = shCommand(APPLY_SH, 'rch-sync', [
    options.remoteBase,
    options.projectKey,
    expectedToken,
    token,
    ...options.roots.map(toArchiveName),
  ]);
  const stdout: Buffer[] = [];
  let stderr = '';
  const upload = createUploadStream(delta.remove, delta.send, options.entries);
  const result = await options.connection.exec(command, {
    stdin: upload,
    stdout: (chunk) => stdout.push(chunk),
    stderr: (chunk) => (stderr += chunk.toString('utf8')),
  });
  if (result.exitCode === STALE_EXIT_CODE && expectedToken !== '*') return undefined;
  if (result.exitCode !== 0) {
    throw new RchError(
      'RCH_SYNC',
      `sync to worker ${options.connection.workerId} failed (exit ${result.exitCode ?? result.exitSignal}): ${stderr.trim() || 'no message'}`,
      { hint: `check free space and permissions of remote_base (${options.remoteBase}) on the worker` },
    );
  }
  const base = /^base=(.*)$/m.exec(Buffer.concat(stdout).toString('utf8'))?.[1];
  if (!base) throw new RchError('RCH_SYNC', `sync to worker ${options.connection.workerId} did not report its base folder`);
  return { state: state(token, base), filesSent: delta.send.length, removed: delta.remove.length };
}
