import { PassThrough } from 'node:stream';
import type { SshConnection } from '../ssh/connection.js';
import { listRemoteArtifacts, selectChangedArtifacts } from './artifact-listing.js';
import { extractArtifacts, type ExtractSummary } from './extract-artifacts.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('artifacts');

/** Archives the NUL-separated paths read from stdin, relative to the target directory. */
const PACK_TARGET_SH = `cd "$1" && exec tar -c --format=posix --no-recursion --null -T - -f -`;

/**
 * Brings back the files under the worker's target directory that differ from the local ones,
 * skipping `incremental/`. Returns how many files and bytes arrived.
 */
export async function pullArtifacts(options: {
  connection: SshConnection;
  remoteTargetDir: string;
  localTargetDir: string;
}): Promise<ExtractSummary> {
  const remote = await listRemoteArtifacts(options.connection, options.remoteTargetDir);
  const changed = await selectChangedArtifacts(remote, options.localTargetDir);
  log('%d of %d artifacts differ from the local copy', changed.length, remote.length);
  if (changed.length === 0) return { files: 0, bytes: 0 };

  const archive = new PassThrough();
  let stderr = '';
  const exited = options.connection.exec(shCommand(PACK_TARGET_SH, 'rch-pack-target', [options.remoteTargetDir]), {
    stdin: changed.map((artifact) => `${artifact.path}\0`).join(''),
    stdout: (chunk) => archive.write(chunk),
    stderr: (chunk) => (stderr += chunk.toString('utf8')),
  });
  const extracted = extractArtifacts(archive, options.localTargetDir);
  // Observed below; without this, a transport fault would also surface as an unhandled rejection.
  extracted.catch(() => undefined);
  let result: Awaited<typeof exited>;
  try {
    result = await exited;
  } finally {
    archive.end();
  }
  const summary = await extracted;
  if (result.exitCode !== 0) {
    throw new RchError(
      'RCH_ARTIFACTS',
      `packing artifacts on worker ${options.connection.workerId} failed (exit ${result.exitCode ?? result.exitSignal}): ${stderr.trim()}`,
    );
  }
  return summary;
}
