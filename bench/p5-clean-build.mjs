// P5: a clean build of the packaged project through the worker against a local build. Before
// each run the target directories go, locally and on the worker. The worker is this machine,
// so both builds share its cores, and the ratio shows rch's overhead (sync, pulling ~300 MB
// of artifacts), not a gain from a faster machine.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createTempDir } from './lib/cleanup.mjs';
import { runChecked } from './lib/command.mjs';
import { runRchCargo, runRsyncFlow, stopControlMasterOnCleanup } from './lib/flows.mjs';
import { createPackagedProject } from './lib/projects.mjs';
import { phaseSamples, row, summarize, target } from './lib/stats.mjs';
import { startBenchWorker, workerCopyOf } from './lib/worker.mjs';

const TARGET_RATIO = 1.1;

export const id = 'P5';
export const title = 'clean build through a worker vs a local build';

export async function run({ runs, realCargo, env }) {
  const worker = await startBenchWorker('p5');
  stopControlMasterOnCleanup(worker);
  const local = await createTempDir('p5-project');
  const projects = {
    rch: path.join(local, 'rch', 'packaged'),
    local: path.join(local, 'local', 'packaged'),
    rsync: path.join(local, 'rsync', 'packaged'),
  };
  for (const project of Object.values(projects)) await createPackagedProject(project);
  const remoteDir = path.join(worker.rsyncBase, 'packaged');
  const localEnv = { ...env, CARGO_HOME: worker.env.CARGO_HOME, RUSTUP_HOME: worker.env.RUSTUP_HOME };
  const clean = (...folders) => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));

  // Warm-up: fills the page cache with the crate sources and the toolchain.
  await runChecked(realCargo, ['build'], { cwd: projects.local, env: localEnv });

  const rch = [];
  const localBuilds = [];
  const rsync = [];
  for (let index = 0; index < runs; index++) {
    await clean(path.join(projects.local, 'target'));
    localBuilds.push((await runChecked(realCargo, ['build'], { cwd: projects.local, env: localEnv })).ms);

    await clean(path.join(projects.rch, 'target'), workerCopyOf(worker, path.join(projects.rch, 'target')));
    rch.push(await runRchCargo(worker, projects.rch, ['build']));

    await clean(path.join(projects.rsync, 'target'), path.join(remoteDir, 'target'));
    rsync.push(await runRsyncFlow(worker, { localDir: projects.rsync, remoteDir, mode: 'control-master' }));
  }

  const rchWall = rch.map((sample) => sample.ms);
  const timings = rch.map((sample) => sample.timings);
  const ratio = summarize(rchWall).median / summarize(localBuilds).median;
  const rsyncRatio = summarize(rsync.map((sample) => sample.totalMs)).median / summarize(localBuilds).median;
  return {
    rows: [
      row('local cargo build', 'ms', localBuilds),
      row('rch: whole command', 'ms', rchWall),
      row('rch: cargo on the worker', 'ms', phaseSamples(timings, 'cargo')),
      row('rch: artifacts phase', 'ms', phaseSamples(timings, 'artifacts')),
      row('rsync + ssh (control-master): whole flow', 'ms', rsync.map((sample) => sample.totalMs)),
      row('rsync + ssh (control-master): rsync target/ back', 'ms', rsync.map((sample) => sample.pullMs)),
      row('rch / local (medians)', 'ratio', [ratio]),
      row('rsync flow / local (medians)', 'ratio', [rsyncRatio]),
    ],
    targets: [target(`rch ≤ ${TARGET_RATIO}× the local build`, ratio, ratio <= TARGET_RATIO)],
    notes: [`${runs} clean builds of each, interleaved, after one untimed local build.`],
  };
}
