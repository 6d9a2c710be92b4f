// P2: a warm no-op `cargo build` of a project on about 60 packaged crates: nothing changed
// since the last build. rch against the rsync + ssh flow on the same worker.
import path from 'node:path';
import { createTempDir } from './lib/cleanup.mjs';
import { runChecked } from './lib/command.mjs';
import { findDaemonProblem, findProject, readDaemonStatus, startDaemon } from './lib/daemon.mjs';
import { runRchCargo, runRsyncFlow, SSH_MODES, stopControlMasterOnCleanup } from './lib/flows.mjs';
import { createPackagedProject } from './lib/projects.mjs';
import { phaseSamples, row, summarize, target } from './lib/stats.mjs';
import { rchBin, startBenchWorker } from './lib/worker.mjs';

const TARGET_WALL_MS = 300;
const TARGET_SPEEDUP = 1.5;
const PHASES = ['snapshot', 'connect', 'sync', 'cargo', 'artifacts', 'process'];

export const id = 'P2';
export const title = 'warm no-op build of a project on ~60 packaged crates';

/**
 * Times the two steps of a build that rch's phases leave out: Node loading rch's modules, and
 * the `cargo metadata` call that finds the workspace.
 */
async function measureStartup(worker, project, realCargo) {
  const options = { cwd: project, env: worker.env };
  const importMain = `import(${JSON.stringify(new URL('../dist/cli/main.js', `file://${rchBin}`).href)})`;
  const node = await runChecked(process.execPath, ['-e', importMain], options);
  const metadata = await runChecked(realCargo, ['metadata', '--format-version', '1', '--offline'], options);
  return { nodeMs: node.ms, metadataMs: metadata.ms };
}

/** Times no-op builds served by `rch daemon`, or returns undefined with a note on why it could not. */
async function measureWithDaemon(worker, project, runs, notes) {
  const problem = await findDaemonProblem(worker.env);
  if (problem) {
    notes.push(`rch with the daemon: skipped, ${problem}.`);
    return undefined;
  }
  const useDaemon = { RCH_NO_DAEMON: '0' };
  await startDaemon(worker.env);
  // Two warm-up builds: the first one lets the daemon watch the project and open its connection.
  await runRchCargo(worker, project, ['build'], useDaemon);
  await runRchCargo(worker, project, ['build'], useDaemon);
  if (findProject(await readDaemonStatus(worker.env), project) === undefined) {
    notes.push('rch with the daemon: skipped, the daemon lists no project after a build.');
    return undefined;
  }
  const wall = [];
  for (let index = 0; index < runs; index++) wall.push((await runRchCargo(worker, project, ['build'], useDaemon)).ms);
  return wall;
}

export async function run({ runs, realCargo }) {
  const worker = await startBenchWorker('p2');
  stopControlMasterOnCleanup(worker);
  // Two identical copies, so that neither flow's target/ is touched by the other.
  const local = await createTempDir('p2-project');
  const rchProject = path.join(local, 'rch', 'packaged');
  const rsyncProject = path.join(local, 'rsync', 'packaged');
  await createPackagedProject(rchProject);
  await createPackagedProject(rsyncProject);
  const remoteDir = path.join(worker.rsyncBase, 'packaged');

  // Warm-up: the first builds compile every crate; the second ones are already no-ops.
  for (let index = 0; index < 2; index++) {
    await runRchCargo(worker, rchProject, ['build']);
    for (const mode of SSH_MODES) await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode });
  }

  const rch = [];
  const startup = [];
  const flows = { 'per-step': [], 'control-master': [] };
  for (let index = 0; index < runs; index++) {
    rch.push(await runRchCargo(worker, rchProject, ['build']));
    startup.push(await measureStartup(worker, rchProject, realCargo));
    for (const mode of SSH_MODES) flows[mode].push(await runRsyncFlow(worker, { localDir: rsyncProject, remoteDir, mode }));
  }

  const rchWall = rch.map((sample) => sample.ms);
  const timings = rch.map((sample) => sample.timings);
  const rows = [row('rch: whole command', 'ms', rchWall)];
  for (const phase of PHASES) rows.push(row(`rch: ${phase}`, 'ms', phaseSamples(timings, phase)));
  rows.push(row('reference: node importing dist/cli/main.js', 'ms', startup.map((sample) => sample.nodeMs)));
  rows.push(row('reference: cargo metadata --offline (as rch runs it)', 'ms', startup.map((sample) => sample.metadataMs)));
  for (const mode of SSH_MODES) {
    rows.push(row(`rsync + ssh (${mode}): whole flow`, 'ms', flows[mode].map((sample) => sample.totalMs)));
    rows.push(row(`rsync + ssh (${mode}): rsync up`, 'ms', flows[mode].map((sample) => sample.syncMs)));
    rows.push(row(`rsync + ssh (${mode}): ssh cargo build`, 'ms', flows[mode].map((sample) => sample.buildMs)));
    rows.push(row(`rsync + ssh (${mode}): rsync target/ back`, 'ms', flows[mode].map((sample) => sample.pullMs)));
  }

  const notes = [];
  const daemonWall = await measureWithDaemon(worker, rchProject, runs, notes);
  if (daemonWall) rows.push(row('rch + daemon: whole command', 'ms', daemonWall));

  // The targets apply to the faster of the two ways rch runs a build.
  const daemonMedian = daemonWall ? summarize(daemonWall).median : Infinity;
  const label = daemonMedian < summarize(rchWall).median ? 'rch with the daemon' : 'rch';
  const rchMedian = Math.min(summarize(rchWall).median, daemonMedian);
  const speedup = summarize(flows['control-master'].map((sample) => sample.totalMs)).median / rchMedian;
  rows.push(row(`ControlMaster flow / ${label} (medians)`, 'ratio', [speedup]));
  return {
    rows,
    targets: [
      target(`${label} wall ≤ ${TARGET_WALL_MS} ms`, rchMedian, rchMedian <= TARGET_WALL_MS),
      target(`${label} ≥ ${TARGET_SPEEDUP}× faster than the ControlMaster flow`, speedup, speedup >= TARGET_SPEEDUP),
    ],
    notes: [
      ...notes,
      'rch phases: snapshot = scan and hash of the local tree, connect = SSH handshake, sync = delta upload (no exec when nothing changed), cargo = the remote cargo run, artifacts = listing and pulling target/, process = Node start to exit.',
      `${runs} runs of each flow, interleaved, after two warm-up builds of each.`,
    ],
  };
}
