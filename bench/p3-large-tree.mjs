// P3: one edited source file in a tree of 50,000 files: the sync alone and the whole command.
// rch's sync is its `snapshot` phase (scan and hash of the local tree) plus its `sync` phase
// (delta upload); rsync's is the `rsync -a --delete` step. With a running `rch daemon`, rch is
// measured a second time with the daemon's watcher index in place of the scan.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { createTempDir } from './lib/cleanup.mjs';
import { findDaemonProblem, findProject, readDaemonStatus, startDaemon } from './lib/daemon.mjs';
import { runRchCargo, runRsyncFlow, SSH_MODES, stopControlMasterOnCleanup } from './lib/flows.mjs';
import { createLargeTree } from './lib/projects.mjs';
import { phaseSamples, row, summarize, target } from './lib/stats.mjs';
import { startBenchWorker } from './lib/worker.mjs';

export const TREE_FILES = 50_000;
const TARGET_SYNC_MS = 35;
const TARGET_SPEEDUP = 15;
const USE_DAEMON = { RCH_NO_DAEMON: '0' };

export const id = 'P3';
export const title = `one edited file in a ${TREE_FILES.toLocaleString('en')}-file tree`;

let editCount = 0;
function editSource(project) {
  editCount += 1;
  return appendFile(path.join(project, 'src', 'main.rs'), `// edit ${editCount}\n`);
}

async function measureRch(worker, project, runs, extraEnv = {}) {
  const samples = [];
  for (let index = 0; index < runs; index++) {
    await editSource(project);
    samples.push(await runRchCargo(worker, project, ['build'], extraEnv));
  }
  const timings = samples.map((sample) => sample.timings);
  const snapshot = phaseSamples(timings, 'snapshot');
  const transfer = phaseSamples(timings, 'sync');
  return {
    wall: samples.map((sample) => sample.ms),
    snapshot,
    transfer,
    sync: snapshot.map((ms, index) => ms + transfer[index]),
  };
}

export async function run({ runs }) {
  const worker = await startBenchWorker('p3');
  stopControlMasterOnCleanup(worker);
  const local = await createTempDir('p3-project');
  const rchProject = path.join(local, 'rch', 'tree');
  const rsyncProject = path.join(local, 'rsync', 'tree');
  await createLargeTree(rchProject, TREE_FILES);
  await createLargeTree(rsyncProject, TREE_FILES);
  const remoteDir = path.join(worker.rsyncBase, 'tree');

  // Warm-up: the first round sends the whole tree and compiles; the second is a first edit.
  for (let index = 0; index < 2; index++) {
    await runRchCargo(worker, rchProject, ['build']);
    for (const mode of SSH_MODES) {
      await editSource(rsyncProject);
      await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode });
    }
  }

  const rch = await measureRch(worker, rchProject, runs);
  const flows = { 'per-step': [], 'control-master': [] };
  for (let index = 0; index < runs; index++) {
    for (const mode of SSH_MODES) {
      await editSource(rsyncProject);
      flows[mode].push(await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode }));
    }
  }

  const rows = [
    row('rch: sync (snapshot + transfer)', 'ms', rch.sync),
    row('rch: snapshot (scan + hash)', 'ms', rch.snapshot),
    row('rch: transfer of the delta', 'ms', rch.transfer),
    row('rch: whole command', 'ms', rch.wall),
  ];
  for (const mode of SSH_MODES) {
    rows.push(row(`rsync + ssh (${mode}): rsync up`, 'ms', flows[mode].map((sample) => sample.syncMs)));
    rows.push(row(`rsync + ssh (${mode}): whole flow`, 'ms', flows[mode].map((sample) => sample.totalMs)));
  }
  const notes = [`${runs} edits of src/main.rs per flow after two warm-up rounds; rch ran first, then the two rsync flows interleaved.`];

  const daemonProblem = await findDaemonProblem(worker.env);
  let daemonSync;
  if (daemonProblem) {
    notes.push(`rch with the daemon: skipped, ${daemonProblem}.`);
  } else {
    try {
      await startDaemon(worker.env);
      await runRchCargo(worker, rchProject, ['build'], USE_DAEMON);
      if (findProject(await readDaemonStatus(worker.env), rchProject) === undefined) {
        notes.push('rch with the daemon: skipped, the daemon lists no project after a build, so builds still run in the rch process.');
      } else {
        const withDaemon = await measureRch(worker, rchProject, runs, USE_DAEMON);
        daemonSync = summarize(withDaemon.sync).median;
        rows.push(row('rch + daemon: sync (snapshot + transfer)', 'ms', withDaemon.sync));
        rows.push(row('rch + daemon: snapshot (watcher index)', 'ms', withDaemon.snapshot));
        rows.push(row('rch + daemon: transfer of the delta', 'ms', withDaemon.transfer));
        rows.push(row('rch + daemon: whole command', 'ms', withDaemon.wall));
      }
    } catch (error) {
      notes.push(`rch with the daemon: failed, ${error instanceof Error ? error.message.split('\n')[0] : error}.`);
    }
  }

  const best = daemonSync ?? summarize(rch.sync).median;
  const label = daemonSync === undefined ? 'rch without daemon' : 'rch with daemon';
  const speedup = summarize(flows['control-master'].map((sample) => sample.syncMs)).median / best;
  rows.push(row(`ControlMaster rsync up / ${label} sync (medians)`, 'ratio', [speedup]));
  return {
    rows,
    targets: [
      target(`${label}: sync ≤ ${TARGET_SYNC_MS} ms`, best, best <= TARGET_SYNC_MS),
      target(`${label}: sync ≥ ${TARGET_SPEEDUP}× faster than rsync over ControlMaster`, speedup, speedup >= TARGET_SPEEDUP),
    ],
    notes,
  };
}
