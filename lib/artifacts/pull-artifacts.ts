import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SshConnection } from '../ssh/connection.js';
import { listRemoteArtifacts, selectChangedArtifacts, type RemoteArtifact } from './artifact-listing.js';
import { pruneStaleArtifacts } from './prune-stale.js';
import { extractArtifacts, type ExtractSummary } from './extract-artifacts.js';
import { chooseCompression, readCompressionSetting, type Compression, type CompressionSetting } from '../sync/compression.js';
import { startTransferProgress, type ProgressStream } from '../build/progress.js';
import { recordCount, timePhase } from '../build/phase-timings.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError, isRchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('artifacts');

/**
 * Archives the NUL-separated paths read from stdin, relative to the target directory, and
 * compresses the archive with `gzip -1` when `$2` is `gzip`. The exit status is tar's in both
 * cases: the pipe's status would be gzip's, so tar's status goes out through descriptor 4.
 */
const PACK_TARGET_SH = `cd "$1" || exit 1
if [ "$2" != gzip ]; then exec tar -c --format=posix --no-recursion --null -T - -f -; fi
exec 3>&1
status=$( { { tar -c --format=posix --no-recursion --null -T - -f -; echo $? >&4; } | gzip -1 >&3; } 4>&1 )
exit "$status"`;

/** Builds the command that writes an archive of the paths listed on its stdin (NUL-separated) to stdout. */
export function buildPackCommand(remoteTargetDir: string, compression: Compression): string {
  return shCommand(PACK_TARGET_SH, 'rch-pack-target', [remoteTargetDir, compression]);
}

export interface PullOptions {
  connection: SshConnection;
  remoteTargetDir: string;
  localTargetDir: string;
  /** Default: `RCH_COMPRESSION`, else `auto`. */
  compression?: CompressionSetting;
  /** Terminal stream for the progress line of a slow download. Default: `process.stderr`. */
  progressStream?: ProgressStream;
}

/**
 * Brings back the files under the worker's target directory that differ from the local ones,
 * skipping `incremental/`. Returns how many files and bytes arrived.
 */
export function pullArtifacts(options: PullOptions): Promise<ExtractSummary> {
  return timePhase('artifacts', () => pullChanged(options));
}

async function pullChanged(options: PullOptions): Promise<ExtractSummary> {
  const remote = await listRemoteArtifacts(options.connection, options.remoteTargetDir);
  const changed = await selectChangedArtifacts(remote, options.localTargetDir);
  log('%d of %d artifacts differ from the local copy', changed.length, remote.length);
  const pruned = await pruneStaleArtifacts(remote, options.localTargetDir);
  if (pruned > 0) log('removed %d local artifacts the worker no longer has', pruned);
  if (changed.length === 0) return { files: 0, bytes: 0 };

  const payloadBytes = sumFileSizes(changed);
  const compression = await chooseCompression(
    options.connection,
    payloadBytes,
    options.compression ?? readCompressionSetting(),
  );
  log('fetching %d bytes, compression %s', payloadBytes, compression);
  const progress = startTransferProgress({
    label: 'fetching artifacts',
    totalFiles: changed.length,
    totalBytes: payloadBytes,
    ...(options.progressStream ? { stream: options.progressStream } : {}),
  });
  try {
    const summary = await receiveArchive(options, changed, compression, (done) => progress.update(done.files, done.bytes));
    recordCount('artifactFiles', summary.files);
    recordCount('artifactBytes', summary.bytes);
    return summary;
  } finally {
    progress.finish();
  }
}

/**
 * Runs the pack script and extracts its output as it arrives. The channel is piped into the
 * extraction, so a slow disk pauses the worker instead of filling memory. A failed extraction
 * stops the command on the worker.
 */
async function receiveArchive(
  options: PullOptions,
  changed: RemoteArtifact[],
  compression: Compression,
  onProgress: (summary: Readonly<ExtractSummary>) => void,
): Promise<ExtractSummary> {
  const { connection } = options;
  let wireBytes = 0;
  const received = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      wireBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const archive: Readable = compression === 'gzip' ? received.pipe(createGunzip()) : received;

  const controller = new AbortController();
  let stderr = '';
  const exited = connection.exec(buildPackCommand(options.remoteTargetDir, compression), {
    stdin: changed.map((artifact) => `${artifact.path}\0`).join(''),
    stdoutStream: received,
    stderr: (chunk) => (stderr += chunk.toString('utf8')),
    signal: controller.signal,
  });
  let extractionError: unknown;
  const extracted = extractArtifacts(archive, options.localTargetDir, { onProgress }).catch((error: unknown) => {
    extractionError = error;
    controller.abort(error);
    return undefined;
  });

  let result: Awaited<typeof exited> | undefined;
  let execError: unknown;
  try {
    result = await exited;
  } catch (error) {
    execError = error;
  } finally {
    // The pipe ends `received` when the channel ends. This call covers a channel that never opened.
    if (!received.writableEnded) received.end();
  }
  const summary = await extracted;
  recordCount('artifactWireBytes', wireBytes);

  if (execError !== undefined && !controller.signal.aborted) throw execError;
  if (result !== undefined && result.exitCode !== 0) {
    throw new RchError(
      'RCH_ARTIFACTS',
      `packing artifacts on worker ${connection.workerId} failed (exit ${result.exitCode ?? result.exitSignal}): ${stderr.trim()}`,
    );
  }
  if (extractionError !== undefined || summary === undefined) {
    if (isRchError(extractionError)) throw extractionError;
    const reason = extractionError instanceof Error ? extractionError.message : String(extractionError);
    throw new RchError('RCH_ARTIFACTS', `receiving artifacts from worker ${connection.workerId} failed: ${reason}`, {
      cause: extractionError,
    });
  }
  return summary;
}

function sumFileSizes(artifacts: RemoteArtifact[]): number {
  return artifacts.reduce((total, artifact) => total + (artifact.type === 'file' ? artifact.size : 0), 0);
}
