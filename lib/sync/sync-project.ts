import type { ExecResult, SshConnection } from '../ssh/connection.js';
import type { TreeEntry } from './scan-tree.js';
import { computeDelta, type SyncDelta } from './delta.js';
import { createUploadStream } from './upload-stream.js';
import { chooseCompression, readCompressionSetting, type Compression, type CompressionSetting } from './compression.js';
import { reconcileFromListing } from './remote-listing.js';
import { newToken, type WorkerProjectState } from './worker-state.js';
import { RESOLVE_BASE_SH, toArchiveName } from '../remote/remote-path.js';
import { shCommand } from '../remote/shell-quote.js';
import { startTransferProgress, type ProgressStream } from '../build/progress.js';
import { recordCount, timePhase } from '../build/phase-timings.js';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('sync');

/** Exit code of the apply script when the worker's marker does not match what rch expects. */
const STALE_EXIT_CODE = 3;

/**
 * Applies one upload on the worker: checks the marker (unless the expected token is `*`),
 * removes the listed paths, extracts the archive, then writes the new marker. The marker is
 * removed first, so an interrupted sync is detected as stale next time. A gzip archive is
 * unpacked with `tar -z`, which runs `gzip -d` and fails when gzip fails.
 */
const APPLY_SH = `set -eu
${RESOLVE_BASE_SH}
key=$2 expected=$3 next=$4 compression=$5
shift 5
mkdir -p "$base/.rch/projects"
cd "$base"
marker=.rch/projects/$key
# A shared lock on the project: \`rch workers gc\` takes it exclusively before it removes a tree.
exec 9>>"$marker.lock"
if command -v flock >/dev/null 2>&1; then flock -s 9; fi
IFS= read -r count
if [ "$expected" != "*" ]; then
  stale=
  [ "$(cat "$marker" 2>/dev/null || true)" = "$expected" ] || stale=1
  for root do [ -d "./$root" ] || stale=1; done
  if [ -n "$stale" ]; then cat >/dev/null; exit ${STALE_EXIT_CODE}; fi
fi
rm -f "$marker"
if [ "$count" -gt 0 ]; then head -c "$count" | xargs -0 rm -rf --; fi
if [ "$compression" = gzip ]; then tar -x -z -p --no-same-owner -f -
else tar -x -p --no-same-owner -f -
fi
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
  /** Default: `RCH_COMPRESSION`, else `auto`. */
  compression?: CompressionSetting;
  /** Terminal stream for the progress line of a slow upload. Default: `process.stderr`. */
  progressStream?: ProgressStream;
}

export interface SyncResult {
  state: WorkerProjectState;
  filesSent: number;
  removed: number;
}

/** Brings the worker's copy of the roots in line with the local tree, sending only what changed. */
export function syncProject(options: SyncOptions): Promise<SyncResult> {
  return timePhase('sync', () => syncWithRetry(options));
}

async function syncWithRetry(options: SyncOptions): Promise<SyncResult> {
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

  const payloadBytes = sumFileSizes(delta.send, options.entries);
  const compression = await chooseCompression(
    options.connection,
    payloadBytes,
    options.compression ?? readCompressionSetting(),
  );
  log('sending %d paths (%d bytes, compression %s), removing %d', delta.send.length, payloadBytes, compression, delta.remove.length);
  const token = newToken();
  const command = shCommand(APPLY_SH, 'rch-sync', [
    options.remoteBase,
    options.projectKey,
    expectedToken,
    token,
    compression,
    ...options.roots.map(toArchiveName),
  ]);
  const { result, stdout, stderr } = await sendUpload(options, command, delta, payloadBytes, compression);
  if (result.exitCode === STALE_EXIT_CODE && expectedToken !== '*') return undefined;
  if (result.exitCode !== 0) {
    throw new RchError(
      'RCH_SYNC',
      `sync to worker ${options.connection.workerId} failed (exit ${result.exitCode ?? result.exitSignal}): ${stderr.trim() || 'no message'}`,
      { hint: `check free space and permissions of remote_base (${options.remoteBase}) on the worker` },
    );
  }
  const base = /^base=(.*)$/m.exec(stdout)?.[1];
  if (!base) throw new RchError('RCH_SYNC', `sync to worker ${options.connection.workerId} did not report its base folder`);
  return { state: state(token, base), filesSent: delta.send.length, removed: delta.remove.length };
}

/** Runs the apply script with the upload stream as its stdin, showing progress on a terminal. */
async function sendUpload(
  options: SyncOptions,
  command: string,
  delta: SyncDelta,
  payloadBytes: number,
  compression: Compression,
): Promise<{ result: ExecResult; stdout: string; stderr: string }> {
  const stdout: Buffer[] = [];
  let stderr = '';
  const progress = startTransferProgress({
    label: 'sending sources',
    totalFiles: delta.send.length,
    totalBytes: payloadBytes,
    ...(options.progressStream ? { stream: options.progressStream } : {}),
  });
  let pathsSent = 0;
  let bytesSent = 0;
  let wireBytes = 0;
  const upload = createUploadStream(delta.remove, delta.send, options.entries, {
    compression,
    onEntry: (bytes) => {
      pathsSent += 1;
      bytesSent += bytes;
      progress.update(pathsSent, bytesSent);
    },
    onOutput: (bytes) => {
      wireBytes += bytes;
    },
  });
  let result: ExecResult;
  try {
    result = await options.connection.exec(command, {
      stdin: upload,
      stdout: (chunk) => stdout.push(chunk),
      stderr: (chunk) => (stderr += chunk.toString('utf8')),
    });
  } finally {
    progress.finish();
  }
  recordCount('syncFiles', delta.send.length);
  recordCount('syncBytes', payloadBytes);
  recordCount('syncWireBytes', wireBytes);
  return { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr };
}

/** Content bytes of the files among `paths`; folders and links count as nothing. */
function sumFileSizes(paths: string[], entries: Map<string, TreeEntry>): number {
  let total = 0;
  for (const file of paths) {
    const entry = entries.get(file);
    if (entry?.type === 'file') total += entry.size;
  }
  return total;
}
