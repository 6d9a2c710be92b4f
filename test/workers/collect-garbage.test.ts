import { readdirSync, readFileSync } from 'node:fs';
import { access, appendFile, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectKeyFor } from '../../lib/sync/worker-state.js';
import type { GcReport } from '../../lib/workers/collect-garbage.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture, createTinyCrate, type Fixture } from '../helpers/fixtures.js';
import { runCargo, runRch } from '../helpers/run.js';
import { workerCopyOf } from '../helpers/remote-copy.js';

let worker: SshdWorker;
let client: ClientHome;
let baseToml: string;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
  baseToml = await readFile(client.workersToml, 'utf8');
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

/** Sets the gc limits of the only worker, whose table is the last one in the file. */
async function setGcLimits(maxGib: number, maxAgeDays: number): Promise<void> {
  await writeFile(client.workersToml, baseToml);
  await appendFile(client.workersToml, `gc_max_gib = ${maxGib}\ngc_max_age_days = ${maxAgeDays}\n`);
}

/** Makes the worker's copy of a project look last built `days` ago. */
async function ageProject(project: Fixture, days: number): Promise<void> {
  const record = path.join(worker.remoteBase, '.rch/projects', `${projectKeyFor(project.root)}.roots`);
  const time = new Date(Date.now() - days * 86_400_000);
  await utimes(record, time, time);
}

async function runGc(): Promise<GcReport> {
  const result = await runRch(['workers', 'gc', worker.workerId, '--json'], { cwd: client.home, env: client.env });
  expect(result.exitCode, result.stderr).toBe(0);
  const [outcome] = JSON.parse(result.stdout) as Array<{ ok: boolean; result: GcReport }>;
  return outcome!.result;
}

async function isOnWorker(project: Fixture): Promise<boolean> {
  return access(workerCopyOf(worker.remoteBase, path.join(project.root, 'Cargo.toml'))).then(
    () => true,
    () => false,
  );
}

describe('rch workers gc', () => {
  it('removes projects past the age limit', async () => {
    const [old, recent] = [await createTinyCrate(), await createTinyCrate()];
    for (const project of [old, recent]) expect((await runCargo(['build'], { cwd: project.root, env: client.env })).exitCode).toBe(0);
    await ageProject(old, 40);
    await setGcLimits(50, 30);

    const report = await runGc();

    expect(report.removed.map((entry) => entry.key)).toEqual([projectKeyFor(old.root)]);
    expect(report.removed[0]!.reason).toBe('age');
    expect(await isOnWorker(old)).toBe(false);
    expect(await isOnWorker(recent)).toBe(true);
    await access(workerCopyOf(worker.remoteBase, path.join(recent.root, 'target/debug/hello')));
  });

  it('removes the least recently built first', async () => {
    const projects = [await createTinyCrate(), await createTinyCrate(), await createTinyCrate()];
    for (const project of projects) expect((await runCargo(['build'], { cwd: project.root, env: client.env })).exitCode).toBe(0);
    await ageProject(projects[0]!, 3);
    await ageProject(projects[1]!, 2);
    await ageProject(projects[2]!, 1);
    // A dry run with no room lists every project, least recently built first, with its size.
    await setGcLimits(1e-9, 30);
    const dryRun = await runRch(['workers', 'gc', worker.workerId, '--dry-run', '--json'], { cwd: client.home, env: client.env });
    const all = (JSON.parse(dryRun.stdout) as Array<{ result: GcReport }>)[0]!.result.removed;
    const keys = projects.map((project) => projectKeyFor(project.root));
    expect(all.slice(0, 3).map((entry) => entry.key)).toEqual(keys);
    // Room for the two most recent projects, so the two oldest go.
    const kept = all.slice(-2);
    const slack = Math.min(...all.map((entry) => entry.bytes)) / 2;
    await setGcLimits((kept[0]!.bytes + kept[1]!.bytes + slack) / 1024 ** 3, 30);

    const report = await runGc();

    expect(report.removed.map((entry) => entry.key)).toEqual(all.slice(0, -2).map((entry) => entry.key));
    expect(report.removed.every((entry) => entry.reason === 'size')).toBe(true);
    expect(await isOnWorker(projects[0]!)).toBe(false);
    expect(await isOnWorker(projects[1]!)).toBe(false);
    expect(await isOnWorker(projects[2]!)).toBe(true);
  });

  it('never removes a project while it builds', async () => {
    const slow = await createFixture({
      'Cargo.toml': '[package]\nname = "slow"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n',
      'build.rs': 'fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(6));\n}\n',
      'src/main.rs': 'fn main() {}\n',
    });
    const idle = await createTinyCrate();
    expect((await runCargo(['build'], { cwd: idle.root, env: client.env })).exitCode).toBe(0);
    await setGcLimits(1e-9, 30);

    const build = runCargo(['build'], { cwd: slow.root, env: client.env });
    await waitForBuildScript(slow);
    const report = await runGc();
    const result = await build;

    expect(result.exitCode, result.stderr).toBe(0);
    expect(report.busy.map((entry) => entry.key)).toEqual([projectKeyFor(slow.root)]);
    expect(report.removed.map((entry) => entry.key)).toContain(projectKeyFor(idle.root));
    expect(await isOnWorker(slow)).toBe(true);
    expect(await isOnWorker(idle)).toBe(false);
  });

  it('leaves the next build of a removed project working', async () => {
    const project = await createTinyCrate();
    expect((await runCargo(['build'], { cwd: project.root, env: client.env })).exitCode).toBe(0);
    await setGcLimits(1e-9, 30);
    await runGc();
    expect(await isOnWorker(project)).toBe(false);

    const again = await runCargo(['build'], { cwd: project.root, env: client.env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await isOnWorker(project)).toBe(true);
  });
});

async function waitForBuildScript(project: Fixture): Promise<void> {
  const needle = `${workerCopyOf(worker.remoteBase, project.root)}/target/debug/build/slow-`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith(needle)) return;
      } catch {
        // The process ended while it was read.
      }
    }
    await sleep(50);
  }
  throw new Error(`the build script of ${project.root} never started on the worker`);
}
