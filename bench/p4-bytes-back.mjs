// P4: bytes that come back after a one-line edit and rebuild of the packaged project: rch
// (uncompressed, as `auto` picks on loopback, and with RCH_COMPRESSION=gzip) against rsync's
// `Total bytes received` (`--stats`). rsync's byte count does not depend on ControlMaster, so
// only that flow runs.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTempDir } from './lib/cleanup.mjs';
import { runRchCargo, runRsyncFlow, stopControlMasterOnCleanup } from './lib/flows.mjs';
import { createPackagedProject } from './lib/projects.mjs';
import { countSamples, phaseSamples, row, summarize } from './lib/stats.mjs';
import { startBenchWorker } from './lib/worker.mjs';

export const id = 'P4';
export const title = 'bytes transferred back after a one-line edit and rebuild';

let editCount = 0;
/** Changes one line of code, so that the binary really changes. */
async function editOneLine(project) {
  editCount += 1;
  const file = path.join(project, 'src', 'main.rs');
  const source = await readFile(file, 'utf8');
  await writeFile(file, source.replace(/\(1\.\.=\d+u64\)/, `(1..=${1000 + editCount}u64)`));
}

export async function run({ runs }) {
  const worker = await startBenchWorker('p4');
  stopControlMasterOnCleanup(worker);
  const local = await createTempDir('p4-project');
  const rchProject = path.join(local, 'rch', 'packaged');
  const rsyncProject = path.join(local, 'rsync', 'packaged');
  await createPackagedProject(rchProject);
  await createPackagedProject(rsyncProject);
  const remoteDir = path.join(worker.rsyncBase, 'packaged');

  await runRchCargo(worker, rchProject, ['build']);
  await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode: 'control-master' });

  const plain = [];
  const gzip = [];
  const rsync = [];
  for (let index = 0; index < runs; index++) {
    await editOneLine(rchProject);
    plain.push((await runRchCargo(worker, rchProject, ['build'])).timings);
    await editOneLine(rchProject);
    gzip.push((await runRchCargo(worker, rchProject, ['build'], { RCH_COMPRESSION: 'gzip' })).timings);
    await editOneLine(rsyncProject);
    rsync.push(await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode: 'control-master' }));
  }

  const rsyncBytes = rsync.map((sample) => sample.pulledBytes);
  const plainWire = countSamples(plain, 'artifactWireBytes');
  const gzipWire = countSamples(gzip, 'artifactWireBytes');
  return {
    rows: [
      row('rch: files pulled', 'count', countSamples(plain, 'artifactFiles')),
      row('rch: content bytes of the pulled files', 'bytes', countSamples(plain, 'artifactBytes')),
      row('rch (auto = none on loopback): bytes on the wire', 'bytes', plainWire),
      row('rch (RCH_COMPRESSION=gzip): bytes on the wire', 'bytes', gzipWire),
      row('rsync --stats: total bytes received', 'bytes', rsyncBytes),
      row('rch (none): artifacts phase', 'ms', phaseSamples(plain, 'artifacts')),
      row('rch (gzip): artifacts phase', 'ms', phaseSamples(gzip, 'artifacts')),
      row('rsync target/ back (ControlMaster)', 'ms', rsync.map((sample) => sample.pullMs)),
      row('rch (none) wire bytes / rsync bytes (medians)', 'ratio', [summarize(plainWire).median / summarize(rsyncBytes).median]),
      row('rch (gzip) wire bytes / rsync bytes (medians)', 'ratio', [summarize(gzipWire).median / summarize(rsyncBytes).median]),
    ],
    targets: [],
    notes: [
      `${runs} one-line edits of src/main.rs per flow after one full build of each.`,
      'rch sends each changed file whole, skipping incremental/; rsync sends deltas of changed files (its rolling checksum) and includes incremental/.',
    ],
  };
}
