import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBuildHistory } from '../../lib/build/build-history.js';
import { resolvePaths } from '../../lib/config/paths.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createTinyCrate } from '../helpers/fixtures.js';
import { runCargo, runRch, type RunResult } from '../helpers/run.js';
import { appendFleetSettings, buildPackagedTemplate, createWarmPackagedProject, RustcSampler } from './fleet-fixtures.js';

let workers: SshdWorker[];

beforeAll(async () => {
  workers = [await startWorkerSshd(), await startWorkerSshd(), await startWorkerSshd()];
  await buildPackagedTemplate();
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});

async function lastBuildWorker(client: ClientHome): Promise<string | undefined> {
  const [record] = await readBuildHistory(resolvePaths(client.env).state, 1);
  return record?.worker;
}

function rchLines(result: RunResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('rch:'));
}

async function runPackaged(root: string): Promise<unknown> {
  const { stdout } = await execa(path.join(root, 'target/debug/packaged'), ['--pattern', 'r[a-z]+', '--text', 'hello rch']);
  return JSON.parse(stdout);
}

describe('placement', () => {
  let client: ClientHome;
  beforeAll(async () => {
    client = await createClientHome(workers);
  });

  it('sends a build to the highest priority', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(rchLines(result)).toEqual([]);
    expect(await lastBuildWorker(client)).toBe(workers[0]!.workerId);
  });

  it('pins a worker with RCH_WORKER', async () => {
    const crate = await createTinyCrate();
    const pinned = workers[2]!.workerId;
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_WORKER: pinned } });

    expect(result.exitCode).toBe(0);
    expect(await lastBuildWorker(client)).toBe(pinned);
  });

  it('refuses an unknown RCH_WORKER under RCH_REQUIRE_REMOTE=1', async () => {
    const crate = await createTinyCrate();
    const env = { ...client.env, RCH_WORKER: 'nope', RCH_REQUIRE_REMOTE: '1' };
    const result = await runCargo(['build'], { cwd: crate.root, env });

    expect(result.exitCode).toBe(75);
    expect(result.stderr).toContain('RCH_WORKER=nope names no worker');
  });

  it('builds locally for an unknown RCH_WORKER', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_WORKER: 'nope' } });

    expect(result.exitCode).toBe(0);
    expect(rchLines(result)).toEqual([expect.stringMatching(/^rch: RCH_WORKER=nope names no worker.*; building locally$/)]);
  });

  it('skips a drained worker', async () => {
    const crate = await createTinyCrate();
    const drained = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_WORKER: workers[0]!.workerId } });
    expect(drained.exitCode).toBe(0);

    expect((await runRch(['workers', 'drain', workers[0]!.workerId], { cwd: crate.root, env: client.env })).exitCode).toBe(0);
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });
    await runRch(['workers', 'enable', workers[0]!.workerId], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(await lastBuildWorker(client)).toBe(workers[1]!.workerId);
  });
});

describe('build slots', () => {
  it('keeps eight concurrent builds within each worker’s slots', async () => {
    const client = await createClientHome(workers, {
      workerOverrides: Object.fromEntries(workers.map((worker) => [worker.workerId, { totalSlots: 2 }])),
    });
    await appendFleetSettings(client, 'queue_timeout_secs = 170\n[slots]\nbuild = 1\n');
    const projects = await Promise.all(Array.from({ length: 8 }, () => createWarmPackagedProject(workers)));

    const sampler = new RustcSampler(workers);
    const results = await Promise.all(projects.map((project) => runCargo(['build'], { cwd: project.root, env: client.env })));
    sampler.stop();

    for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
    for (const project of projects) expect(await runPackaged(project.root)).toEqual({ matches: ['rch'], pattern: 'r[a-z]+' });
    for (const worker of workers) expect(sampler.highest.get(worker.workerId), worker.workerId).toBeLessThanOrEqual(2);
    const history = await readBuildHistory(resolvePaths(client.env).state, 8);
    expect(new Set(history.map((record) => record.worker)).size).toBeGreaterThan(1);
    expect(Math.max(...sampler.highest.values())).toBeGreaterThan(0);
  });

  it('shares one worker’s slots between two clients', async () => {
    const shared = workers[1]!;
    const overrides = { workerOverrides: { [shared.workerId]: { totalSlots: 2 } } };
    const clients = [await createClientHome([shared], overrides), await createClientHome([shared], overrides)];
    for (const client of clients) await appendFleetSettings(client, 'queue_timeout_secs = 170\n[slots]\nbuild = 1\n');
    const projects = await Promise.all(Array.from({ length: 6 }, () => createWarmPackagedProject([shared])));

    const sampler = new RustcSampler([shared]);
    const results = await Promise.all(
      projects.map((project, index) => runCargo(['build'], { cwd: project.root, env: clients[index % 2]!.env })),
    );
    sampler.stop();

    for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
    expect(sampler.highest.get(shared.workerId)).toBeLessThanOrEqual(2);
    expect(sampler.highest.get(shared.workerId)).toBeGreaterThan(0);
  });
});
