import fs from 'node:fs/promises';
import path from 'node:path';
import { it } from 'vitest';
import { createClientHome, startWorkerSshd } from '../helpers/sshd.js';
import { createTinyCrate } from '../helpers/fixtures.js';
import { runRch } from '../helpers/run.js';
import { buildViaDaemon, REAL_CARGO } from './daemon-helpers.js';
import { captureTimings } from '../../lib/build/phase-timings.js';
import { runRemoteBuild } from '../../lib/build/remote-build.js';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { loadProjectConfig } from '../../lib/config/project.js';
import { readProjectLayout } from '../../lib/sync/cargo-metadata.js';

it('measures 50k', async () => {
  const worker = await startWorkerSshd();
  const client = await createClientHome([worker]);
  const crate = await createTinyCrate();
  for (let a = 0; a < 50; a++) for (let b = 0; b < 20; b++) {
    const dir = path.join(crate.root, 'data', `m${a}`, `s${b}`);
    await fs.mkdir(dir, { recursive: true });
    await Promise.all(Array.from({ length: 50 }, (_, c) => fs.writeFile(path.join(dir, `f${c}.rs`), `// ${a} ${b} ${c}\n`)));
  }
  const show = (label: string, started: number, timings: { phasesMs: Record<string, number> }) =>
    console.log(label, Date.now() - started, 'ms total; phases', JSON.stringify(timings.phasesMs));
  const daemonBuild = async (label: string) => { const t = Date.now(); const { timings } = await captureTimings(() => buildViaDaemon(client.env, crate.root)); show(label, t, timings); };
  await daemonBuild('first daemon build');
  const status = JSON.parse((await runRch(['daemon', 'status', '--json'], { cwd: crate.root, env: client.env })).stdout);
  console.log('after first build: rss MiB', (status.memory.rss / 2 ** 20).toFixed(0), 'heapUsed MiB', (status.memory.heapUsed / 2 ** 20).toFixed(0), 'readyMs', status.projects[0].readyMs, 'files', status.projects[0].files, 'watches', status.projects[0].watches);
  for (let i = 0; i < 3; i++) await daemonBuild('no-change daemon build');
  await fs.writeFile(path.join(crate.root, 'data/m3/s4/f7.rs'), '// changed\n');
  await daemonBuild('one-file-change daemon build');
  const status2 = JSON.parse((await runRch(['daemon', 'status', '--json'], { cwd: crate.root, env: client.env })).stdout);
  console.log('steady: rss MiB', (status2.memory.rss / 2 ** 20).toFixed(0), 'heapUsed MiB', (status2.memory.heapUsed / 2 ** 20).toFixed(0));

  const paths = resolvePaths(client.env);
  const [workerConfig] = await loadWorkers(paths, client.env);
  const layout = await readProjectLayout({ realCargo: REAL_CARGO, cwd: crate.root, env: client.env, cargoArgs: [] });
  const project = await loadProjectConfig(crate.root, layout.workspaceRoot);
  for (let i = 0; i < 2; i++) {
    const t = Date.now();
    const { timings } = await captureTimings(() => runRemoteBuild({ worker: workerConfig!, paths, env: client.env, cwd: crate.root, args: ['build'], subcommandIndex: 0, layout, project, stdout: () => {}, stderr: () => {}, signal: new AbortController().signal }));
    show('no-change in-process build', t, timings);
  }
}, 600_000);
