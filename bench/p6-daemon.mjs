// P6: resident memory of `rch daemon` and the time until it watches a 50,000-file tree. A
// build through the shim registers the project. The time runs from the start of that build
// until `rch daemon status --json` reports the project as watched, or is the status's own
// `readyMs` when it has one. Prints "skipped: no daemon" while rch has no daemon command.
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTempDir } from './lib/cleanup.mjs';
import { findDaemonProblem, findProject, isProjectReady, readDaemonStatus, readRssBytes, startDaemon } from './lib/daemon.mjs';
import { runRchCargo } from './lib/flows.mjs';
import { createLargeTree } from './lib/projects.mjs';
import { row, target } from './lib/stats.mjs';
import { startBenchWorker } from './lib/worker.mjs';
import { TREE_FILES } from './p3-large-tree.mjs';

const TARGET_RSS_MB = 200;
const TARGET_READY_MS = 3_000;
const READY_POLL_MS = 50;
const READY_TIMEOUT_MS = 60_000;

export const id = 'P6';
export const title = `daemon memory and watch-ready time for a ${TREE_FILES.toLocaleString('en')}-file tree`;

async function waitUntilReady(env, root, started) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const status = await readDaemonStatus(env);
    const project = findProject(status, root);
    if (isProjectReady(project)) {
      const readyMs = typeof project.readyMs === 'number' ? project.readyMs : performance.now() - started;
      return { readyMs, status };
    }
    await sleep(READY_POLL_MS);
  }
  throw new Error(`the daemon did not report ${root} ready within ${READY_TIMEOUT_MS} ms`);
}

export async function run({ runs }) {
  const worker = await startBenchWorker('p6');
  const problem = await findDaemonProblem(worker.env);
  if (problem) return { skipped: problem, rows: [], targets: [], notes: [] };

  const local = await createTempDir('p6-project');
  const readyTimes = [];
  const rssValues = [];
  // Each run watches a new copy of the tree, so that every measurement starts cold.
  for (let index = 0; index < runs; index++) {
    const project = path.join(local, `tree-${index}`);
    await createLargeTree(project, TREE_FILES);
    if (index === 0) await startDaemon(worker.env);
    const started = performance.now();
    await runRchCargo(worker, project, ['build'], { RCH_NO_DAEMON: '0' });
    if (findProject(await readDaemonStatus(worker.env), project) === undefined) {
      return { skipped: 'no daemon: it lists no project after a build, so builds still run in the rch process', rows: [], targets: [], notes: [] };
    }
    const { readyMs, status } = await waitUntilReady(worker.env, project, started);
    readyTimes.push(readyMs);
    const rss = readRssBytes(status);
    if (rss !== undefined) rssValues.push(rss / 1e6);
  }

  const firstRss = rssValues[0] ?? NaN;
  const maxReady = Math.max(...readyTimes);
  return {
    rows: [
      row('watch-ready time', 'ms', readyTimes),
      row('daemon RSS with the first tree watched', 'MB', [firstRss]),
      row(`daemon RSS after each of ${runs} trees`, 'MB', rssValues),
    ],
    targets: [
      target(`RSS ≤ ${TARGET_RSS_MB} MB with one tree watched`, firstRss, firstRss <= TARGET_RSS_MB),
      target(`ready ≤ ${TARGET_READY_MS} ms (slowest sample)`, maxReady, maxReady <= TARGET_READY_MS),
    ],
    notes: ['Each run adds one more watched tree to the same daemon, so its RSS rises over the runs; the target applies to the first.'],
  };
}
