import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCompileErrorCrate,
  createFailingTestCrate,
  createFixture,
  createPackagedCratesProject,
  createPathDependencyProject,
  createTinyCrate,
  createWorkspace,
} from './fixtures.js';
import { listTree, runProgram, shimsDir, type RunResult } from './run.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from './sshd.js';

const REAL_CARGO = '/root/.cargo/bin/cargo';

function runSsh(client: ClientHome, worker: SshdWorker, command: string): Promise<RunResult> {
  const args = [
    '-i', client.identityFile,
    '-o', `UserKnownHostsFile=${client.knownHostsFile}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-p', String(worker.port),
    `${worker.user}@${worker.host}`,
    command,
  ];
  return runProgram('ssh', args, { cwd: client.home, env: client.env });
}

// A zombie counts as gone because it no longer runs, and PID 1 in a container may never reap it.
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function readCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

async function waitForCommandLine(worker: SshdWorker, commandLine: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const pid = worker.listSessionPids().find((candidate) => readCommandLine(candidate) === commandLine);
    if (pid !== undefined) return pid;
    await sleep(50);
  }
  throw new Error(`no session process ran "${commandLine}". sshd log:\n${worker.log()}`);
}

describe('startWorkerSshd', () => {
  let worker: SshdWorker;
  let client: ClientHome;

  beforeAll(async () => {
    worker = await startWorkerSshd({ setEnv: { FAULT_MODE: 'drop after 2 s' } });
    client = await createClientHome([worker]);
  });

  afterAll(async () => {
    await client.cleanup();
    await worker.stop();
  });

  it('accepts the client key over real ssh', async () => {
    const result = await runSsh(client, worker, 'echo ok');

    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\n');
    expect(result.exitCode).toBe(0);
  });

  it('sets SetEnv variables in sessions', async () => {
    const result = await runSsh(client, worker, 'printf %s "$FAULT_MODE"');

    expect(result.stdout).toBe('drop after 2 s');
  });

  it('logs accepted keys verbosely', () => {
    expect(worker.log()).toContain('Accepted publickey for root from 127.0.0.1');
  });

  it('rejects an untrusted host key', async () => {
    const untrusting = await createClientHome([worker], { trust: false });

    const result = await runSsh(untrusting, worker, 'echo ok');

    expect(existsSync(untrusting.knownHostsFile)).toBe(false);
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toContain('Host key verification failed');
    await untrusting.cleanup();
  });

  it('refuses connections once the listener is killed', async () => {
    const doomed = await startWorkerSshd();
    const doomedClient = await createClientHome([doomed]);
    doomed.kill('SIGKILL', 'listener');

    const result = await runSsh(doomedClient, doomed, 'echo ok');

    expect(result.exitCode).toBe(255);
    expect(result.stderr).toContain('Connection refused');
    await doomed.stop();
    await doomedClient.cleanup();
  });
});

describe('two workers', () => {
  it('listen on different ports', async () => {
    const first = await startWorkerSshd({ workerId: 'worker-one' });
    const second = await startWorkerSshd({ workerId: 'worker-two' });
    const client = await createClientHome([first, second]);

    const results = await Promise.all([runSsh(client, first, 'echo ok'), runSsh(client, second, 'echo ok')]);

    expect(first.port).not.toBe(second.port);
    expect(first.remoteBase).not.toBe(second.remoteBase);
    expect(results.map((result) => result.stdout)).toEqual(['ok\n', 'ok\n']);
    await Promise.all([first.stop(), second.stop()]);
  });
});

describe('stop', () => {
  it('leaves no process behind', async () => {
    const worker = await startWorkerSshd();
    const client = await createClientHome([worker]);
    // One sleep stays in the session. The other is started from a subshell that exits at once,
    // so it is reparented out of the sshd process tree, like a daemon a build might start.
    const session = runSsh(client, worker, '(setsid sleep 301 >/dev/null 2>&1 </dev/null &); exec sleep 300');
    const sessionSleep = await waitForCommandLine(worker, 'sleep 300');
    const escapedSleep = await waitForCommandLine(worker, 'sleep 301');
    const pidsBeforeStop = [worker.pid, ...worker.listSessionPids()];

    await worker.stop();
    const result = await session;

    expect(pidsBeforeStop.filter(isRunning)).toEqual([]);
    expect(isRunning(sessionSleep)).toBe(false);
    expect(isRunning(escapedSleep)).toBe(false);
    expect(result.exitCode).not.toBe(0);
    expect(existsSync(worker.dir)).toBe(false);
    await client.cleanup();
  });
});

describe('createClientHome', () => {
  let worker: SshdWorker;

  beforeAll(async () => {
    worker = await startWorkerSshd({ workerId: 'worker-toml' });
  });

  afterAll(async () => {
    await worker.stop();
  });

  it('writes workers.toml with overrides', async () => {
    const client = await createClientHome([worker], { workerOverrides: { 'worker-toml': { totalSlots: 2, tags: ['fast'] } } });

    const config = parse(await readFile(client.workersToml, 'utf8')) as { workers: Record<string, unknown>[] };

    expect(config.workers).toEqual([
      {
        id: 'worker-toml',
        host: '127.0.0.1',
        port: worker.port,
        user: 'root',
        identity_file: client.identityFile,
        remote_base: worker.remoteBase,
        total_slots: 2,
        priority: 100,
        tags: ['fast'],
      },
    ]);
    await client.cleanup();
  });

  it('builds a clean environment', async () => {
    const client = await createClientHome([worker]);
    const runtimeDir = await stat(client.env.XDG_RUNTIME_DIR as string);

    expect(client.env.HOME).toBe(client.home);
    expect(client.env.PATH?.split(':')[0]).toBe(shimsDir);
    expect(client.env.RUSTUP_HOME).toBe('/root/.rustup');
    expect(client.env.CARGO_HOME).toBe('/root/.cargo');
    expect(client.env.SSH_AUTH_SOCK).toBeUndefined();
    expect(Object.keys(client.env).filter((name) => name.startsWith('RCH_'))).toEqual([]);
    expect(runtimeDir.mode & 0o777).toBe(0o700);
    expect(readFileSync(client.knownHostsFile, 'utf8')).toMatch(/^\[127\.0\.0\.1\]:\d+ ssh-ed25519 \S+\n$/);
    await client.cleanup();
    expect(existsSync(client.home)).toBe(false);
  });
});

describe('listTree', () => {
  it('lists files, folders and symlinks', async () => {
    const fixture = await createFixture({ 'a.txt': 'abc', 'sub/b.txt': '' });
    await mkdir(path.join(fixture.root, 'empty'));
    await symlink('a.txt', path.join(fixture.root, 'link'));

    const tree = await listTree(fixture.root, { skip: (relativePath) => relativePath === 'empty' });

    expect([...tree.keys()]).toEqual(['a.txt', 'link', 'sub', 'sub/b.txt']);
    expect(tree.get('a.txt')).toMatchObject({ type: 'file', size: 3, mode: 0o644 });
    expect(tree.get('link')).toMatchObject({ type: 'symlink', target: 'a.txt' });
    expect(tree.get('sub')).toMatchObject({ type: 'directory', size: 0 });
    await fixture.cleanup();
  });
});

describe('fixtures with the real cargo', () => {
  let client: ClientHome;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    client = await createClientHome([]);
    // These tests check the fixtures, not rch, so the shim stays off PATH.
    const pathWithoutShims = client.env.PATH?.split(':').filter((entry) => entry !== shimsDir).join(':');
    env = { ...client.env, PATH: pathWithoutShims };
  });

  afterAll(async () => {
    await client.cleanup();
  });

  it('tiny crate builds, runs and tests', async () => {
    const fixture = await createTinyCrate();

    const build = await runProgram(REAL_CARGO, ['build'], { cwd: fixture.root, env });
    const run = await runProgram(path.join(fixture.root, 'target/debug/hello'), [], { cwd: fixture.root, env });
    const test = await runProgram(REAL_CARGO, ['test'], { cwd: fixture.root, env });

    expect(build.exitCode, build.stderr).toBe(0);
    expect(run.stdout).toBe('hello from rch\n');
    expect(test.exitCode, test.stderr).toBe(0);
    expect(test.stdout).toContain('test result: ok. 1 passed');
    await fixture.cleanup();
  });

  it('packaged crates build offline', async () => {
    const fixture = await createPackagedCratesProject();

    const build = await runProgram(REAL_CARGO, ['build'], { cwd: fixture.root, env });
    const binary = path.join(fixture.root, 'target/debug/packaged');
    const run = await runProgram(binary, ['--pattern', 'r[a-z]+', '--text', 'hello rch'], { cwd: fixture.root, env });
    const metadata = await runProgram(REAL_CARGO, ['metadata', '--format-version', '1'], { cwd: fixture.root, env });
    const packageNames = (JSON.parse(metadata.stdout) as { packages: { name: string }[] }).packages.map((p) => p.name);

    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stderr.match(/^\s+Compiling /gm)?.length).toBeGreaterThan(20);
    expect(run.stdout).toBe('{"matches":["rch"],"pattern":"r[a-z]+"}\n');
    expect(metadata.exitCode, metadata.stderr).toBe(0);
    expect(packageNames).toEqual(expect.arrayContaining(['packaged', 'clap', 'clap_derive', 'regex', 'serde_json']));
    await fixture.cleanup();
  });

  it('path dependency outside the crate builds', async () => {
    const fixture = await createPathDependencyProject();

    const build = await runProgram(REAL_CARGO, ['build'], { cwd: fixture.app, env });
    const run = await runProgram(path.join(fixture.app, 'target/debug/app'), [], { cwd: fixture.app, env });

    expect(build.exitCode, build.stderr).toBe(0);
    expect(run.stdout).toBe('util says hi\n');
    expect(existsSync(path.join(fixture.util, 'target'))).toBe(false);
    await fixture.cleanup();
  });

  it('workspace builds both members', async () => {
    const fixture = await createWorkspace();

    const build = await runProgram(REAL_CARGO, ['build'], { cwd: fixture.root, env });
    const run = await runProgram(path.join(fixture.root, 'target/debug/a'), [], { cwd: fixture.a, env });

    expect(build.exitCode, build.stderr).toBe(0);
    expect(build.stderr).toContain('Compiling b v0.1.0');
    expect(run.stdout).toBe('a uses b\n');
    await fixture.cleanup();
  });

  it('compile error points at main.rs', async () => {
    const fixture = await createCompileErrorCrate();

    const build = await runProgram(REAL_CARGO, ['build'], { cwd: fixture.root, env });

    expect(build.exitCode).toBe(101);
    expect(build.stderr).toContain('error[E0308]: mismatched types');
    expect(build.stderr).toContain(`--> ${fixture.errorLocation}`);
    await fixture.cleanup();
  });

  it('failing test fails cargo test', async () => {
    const fixture = await createFailingTestCrate();

    const test = await runProgram(REAL_CARGO, ['test'], { cwd: fixture.root, env });

    expect(test.exitCode).toBe(101);
    expect(test.stdout).toContain(`test ${fixture.passingTest} ... ok`);
    expect(test.stdout).toContain(`test ${fixture.failingTest} ... FAILED`);
    expect(test.stdout).toContain('test result: FAILED. 1 passed; 1 failed');
    await fixture.cleanup();
  });
});
