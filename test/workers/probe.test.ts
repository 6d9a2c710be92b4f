import { appendFile } from 'node:fs/promises';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBuildHistory } from '../../lib/build/build-history.js';
import { resolvePaths } from '../../lib/config/paths.js';
import type { ProbeReport } from '../../lib/workers/probe-worker.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createTinyCrate } from '../helpers/fixtures.js';
import { runCargo, runRch } from '../helpers/run.js';
import { createFakeCommands, pathWithFirst } from './fleet-fixtures.js';
import { closedPort } from './probe-helpers.js';

// `uname -m` prints aarch64 on the foreign worker, and every other use of uname reaches the real one.
const FAKE_UNAME = `#!/bin/sh
if [ "$1" = -m ]; then echo aarch64; exit 0; fi
exec /usr/bin/uname "$@"
`;

let healthy: SshdWorker;
let foreign: SshdWorker;
let client: ClientHome;

beforeAll(async () => {
  healthy = await startWorkerSshd({ workerId: 'healthy' });
  const fakeBin = await createFakeCommands({ uname: FAKE_UNAME });
  foreign = await startWorkerSshd({ workerId: 'foreign', setEnv: { PATH: pathWithFirst(fakeBin) } });
  const unreachablePort = await closedPort();
  // The foreign worker has the highest priority, so a build that lands on `healthy` passed it by.
  client = await createClientHome([foreign, healthy], { workerOverrides: { foreign: { priority: 200 } } });
  const unreachable = `\n[[workers]]\nid = "gone"\nhost = "127.0.0.1"\nport = ${unreachablePort}\nuser = "root"\nidentity_file = "${client.identityFile}"\n`;
  await appendFile(client.workersToml, unreachable);
});

afterAll(async () => {
  await healthy?.stop();
  await foreign?.stop();
});

async function probeAll(): Promise<{ exitCode: number | undefined; reports: Map<string, ProbeReport> }> {
  const result = await runRch(['workers', 'probe', '--json'], { cwd: client.home, env: client.env });
  const reports = JSON.parse(result.stdout) as ProbeReport[];
  return { exitCode: result.exitCode, reports: new Map(reports.map((report) => [report.id, report])) };
}

describe('rch workers probe', () => {
  it('reports what the worker agent finds', async () => {
    const { reports } = await probeAll();
    const report = reports.get('healthy')!;

    expect(report.reachable).toBe(true);
    expect(report.usable).toBe(true);
    expect(report.endpoint).toBe(`root@127.0.0.1:${healthy.port}`);
    expect(report.rttMs).toBeGreaterThan(0);
    expect(report.connectMs).toBeGreaterThan(0);
    expect(report.caps!.arch).toBe(os.machine());
    expect(report.caps!.os).toBe('Linux');
    expect(report.caps!.cores).toBeGreaterThan(0);
    expect(report.caps!.memoryBytes).toBeGreaterThan(0);
    expect(report.caps!.diskFreeBytes).toBeGreaterThan(0);
    expect(report.caps!.remoteBase).toBe(healthy.remoteBase);
    expect(report.caps!.cargo).toMatch(/^cargo \d+\.\d+/);
    expect(report.caps!.rustc).toMatch(/^rustc \d+\.\d+/);
    expect(report.caps!.toolchains.map((toolchain) => toolchain.name)).toContain(report.caps!.defaultToolchain);
    expect(report.caps!.agentVersion).toBeGreaterThan(0);
    expect(report.agent).toBe('missing');
  });

  it('warns about a worker below the recommended size', async () => {
    const { reports } = await probeAll();
    const report = reports.get('healthy')!;
    const expected = report.caps!.cores < 4 ? [expect.stringContaining('fewer than the recommended 4')] : [];

    expect(report.warnings).toEqual(expect.arrayContaining(expected));
  });

  it('reports an unreachable worker without failing', async () => {
    const { exitCode, reports } = await probeAll();
    const report = reports.get('gone')!;

    expect(exitCode).toBe(1);
    expect(report.reachable).toBe(false);
    expect(report.usable).toBe(false);
    expect(report.error!.code).toBe('RCH_SSH_CONNECT');
    expect(report.error!.message).toContain('connection refused');
  });

  it('marks a worker of another architecture unusable', async () => {
    const { reports } = await probeAll();
    const report = reports.get('foreign')!;

    expect(report.reachable).toBe(true);
    expect(report.usable).toBe(false);
    expect(report.caps!.arch).toBe('aarch64');
    expect(report.problems).toEqual([expect.stringContaining('architecture aarch64 differs')]);
  });

  it('prints a readable line per worker', async () => {
    const result = await runRch(['workers', 'probe'], { cwd: client.home, env: client.env });

    expect(result.stdout).toMatch(/^healthy {2}root@127\.0\.0\.1:\d+ {2}usable$/m);
    expect(result.stdout).toMatch(/^gone {2}unreachable: .*connection refused/m);
    expect(result.stdout).toMatch(/^foreign {2}.*unusable: architecture aarch64/m);
  });
});

describe('architecture check in placement', () => {
  it('builds on the matching worker', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    const [record] = await readBuildHistory(resolvePaths(client.env).state, 1);
    expect(record!.worker).toBe('healthy');
  });

  it('refuses a pinned worker of another architecture', async () => {
    const crate = await createTinyCrate();
    const env = { ...client.env, RCH_WORKER: 'foreign', RCH_REQUIRE_REMOTE: '1' };
    const result = await runCargo(['build'], { cwd: crate.root, env });

    expect(result.exitCode).toBe(75);
    expect(result.stderr).toMatch(/^rch: RCH_WORKER=foreign: architecture aarch64 differs/m);
  });
});
