import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SetupReport } from '../../lib/workers/setup-worker.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture } from '../helpers/fixtures.js';
import { runRch } from '../helpers/run.js';
import { createFakeCommands, createScratchFolder } from './fleet-fixtures.js';

// Records every rustup call. Installs succeed without a download, and everything else goes to
// the real rustup, so that the agent still lists the installed toolchains.
function fakeRustup(log: string): string {
  return `#!/bin/sh
printf '%s\\n' "$*" >>'${log}'
case "$1 $2" in
  "toolchain install" | "component add") exit 0 ;;
esac
exec /root/.cargo/bin/rustup "$@"
`;
}

let worker: SshdWorker;
let client: ClientHome;
let rustupLog: string;

beforeAll(async () => {
  const logFolder = await createScratchFolder();
  rustupLog = path.join(logFolder, 'rustup.log');
  await writeFile(rustupLog, '');
  const fakeBin = await createFakeCommands({ rustup: fakeRustup(rustupLog) });
  // The worker user's home is an empty folder: root's real ~/.bashrc would put ~/.cargo/bin ahead
  // of the fake rustup. RUSTUP_HOME keeps the installed toolchains visible.
  const home = await createScratchFolder();
  worker = await startWorkerSshd({
    setEnv: {
      HOME: home,
      RUSTUP_HOME: '/root/.rustup',
      CARGO_HOME: '/root/.cargo',
      PATH: [fakeBin, '/root/.cargo/bin', '/usr/bin', '/bin'].join(':'),
    },
  });
  client = await createClientHome([worker]);
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

async function setup(cwd: string): Promise<SetupReport> {
  const result = await runRch(['workers', 'setup', worker.workerId, '--json'], { cwd, env: client.env });
  expect(result.exitCode, result.stdout).toBe(0);
  const [outcome] = JSON.parse(result.stdout) as Array<{ ok: boolean; result: SetupReport }>;
  return outcome!.result;
}

async function rustupCalls(): Promise<string[]> {
  return (await readFile(rustupLog, 'utf8')).split('\n').filter(Boolean);
}

describe('rch workers setup', () => {
  it('installs the agent once', async () => {
    const first = await runRch(['workers', 'setup', worker.workerId], { cwd: client.home, env: client.env });
    const agent = path.join(worker.remoteBase, '.rch/bin/rch-wkr');
    const installed = await stat(agent);
    const second = await runRch(['workers', 'setup', worker.workerId], { cwd: client.home, env: client.env });

    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain(`${worker.workerId}: agent installed`);
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain(`${worker.workerId}: agent up to date`);
    const again = await stat(agent);
    expect(again.ino).toBe(installed.ino);
    expect(again.mtimeMs).toBe(installed.mtimeMs);
  });

  it('installs a missing toolchain with its components', async () => {
    const project = await createFixture({
      'rust-toolchain.toml': '[toolchain]\nchannel = "1.70.0"\ncomponents = ["clippy", "rustfmt"]\n',
    });
    const before = (await rustupCalls()).length;
    const report = await setup(project.root);

    expect(report.toolchain).toMatchObject({ channel: '1.70.0', action: 'installed' });
    const calls = (await rustupCalls()).slice(before);
    expect(calls).toContain('toolchain install 1.70.0 --profile minimal -c clippy -c rustfmt');
    expect(calls.filter((call) => call.startsWith('default') || call.startsWith('override'))).toEqual([]);
  });

  it('adds a missing component to an installed toolchain', async () => {
    const project = await createFixture({ 'rust-toolchain.toml': '[toolchain]\nchannel = "stable"\ncomponents = ["rust-src"]\n' });
    const before = (await rustupCalls()).length;
    const report = await setup(project.root);

    expect(report.toolchain).toMatchObject({ channel: 'stable', action: 'installed' });
    expect((await rustupCalls()).slice(before)).toContain('component add --toolchain stable rust-src');
  });

  it('changes nothing for an installed toolchain', async () => {
    const project = await createFixture({ 'rust-toolchain.toml': '[toolchain]\nchannel = "stable"\ncomponents = ["clippy"]\n' });
    const before = (await rustupCalls()).length;
    const report = await setup(project.root);

    expect(report.agent).toBe('unchanged');
    expect(report.toolchain).toMatchObject({ channel: 'stable', action: 'present', rustupArgs: null });
    const calls = (await rustupCalls()).slice(before);
    expect(calls.filter((call) => call.startsWith('toolchain install') || call.startsWith('component add'))).toEqual([]);
  });
});
