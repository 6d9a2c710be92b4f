import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { loadProjectConfig } from '../../lib/config/project.js';
import { readProjectLayout } from '../../lib/sync/cargo-metadata.js';
import { selectBuildRunner } from '../../lib/daemon/build-runner.js';
import { DaemonClient } from '../../lib/daemon/client.js';
import { resolveDaemonPaths } from '../../lib/daemon/daemon-paths.js';
import { isRchError } from '../../lib/errors.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture, createTinyCrate, writeFileTree, type Fixture } from '../helpers/fixtures.js';
import { rchBin, runRch } from '../helpers/run.js';
import {
  buildViaDaemon,
  expectWorkerCopyMatches,
  killDaemon,
  readDaemonLog,
  readDaemonPidFile,
  REAL_CARGO,
  trackDaemon,
  waitFor,
} from './daemon-helpers.js';

let worker: SshdWorker;
let client: ClientHome;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

/** Creates a bin crate whose build script sleeps, so a build can be interrupted while it runs. */
function createSlowCrate(): Promise<Fixture> {
  return createFixture({
    '.gitignore': '/target\n',
    'Cargo.toml': '[package]\nname = "slow"\nversion = "0.1.0"\nedition = "2021"\n',
    'build.rs': 'fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(4));\n}\n',
    'src/main.rs': 'fn main() {\n    println!("slow v1");\n}\n',
  });
}

/** Runs a build the way cargo-command does once it selects a runner, collecting rch's stderr. */
async function buildWithSelectedRunner(env: NodeJS.ProcessEnv, cwd: string): Promise<{ exitCode: number; stderr: string }> {
  let stderr = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stderr += chunk.toString('utf8');
      callback();
    },
  });
  const paths = resolvePaths(env);
  const runBuild = await selectBuildRunner(paths, env, sink);
  const [worker] = await loadWorkers(paths, env);
  const layout = await readProjectLayout({ realCargo: REAL_CARGO, cwd, env, cargoArgs: [] });
  const result = await runBuild({
    worker: worker!,
    paths,
    env,
    cwd,
    args: ['build'],
    subcommandIndex: 0,
    layout,
    project: await loadProjectConfig(cwd, layout.workspaceRoot),
    stdout: () => undefined,
    stderr: (chunk) => (stderr += chunk.toString('utf8')),
    signal: new AbortController().signal,
  });
  trackDaemon(env);
  return { exitCode: result.exitCode, stderr };
}

describe('daemon faults', () => {
  it('keeps its socket 0600 in a 0700 folder', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    const daemonPaths = resolveDaemonPaths(resolvePaths(client.env), client.env);
    expect((await fs.stat(daemonPaths.runDir)).mode & 0o777).toBe(0o700);
    const socket = await fs.lstat(daemonPaths.socket);
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
  });

  it('refuses a socket owned by another user', async () => {
    const home = await createClientHome([worker]);
    const crate = await createTinyCrate();
    await buildViaDaemon(home.env, crate.root);
    const { socket } = resolveDaemonPaths(resolvePaths(home.env), home.env);
    await fs.chown(socket, 65534, 65534);

    const refused = await buildViaDaemon(home.env, crate.root).catch((error: unknown) => error);
    expect(isRchError(refused, 'RCH_DAEMON_UNSAFE')).toBe(true);
    expect((refused as Error).message).toContain('uid 65534');
    const status = await runRch(['daemon', 'status'], { cwd: crate.root, env: home.env });
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain(`rch: the daemon socket ${socket} belongs to uid 65534`);

    const fallback = await buildWithSelectedRunner(home.env, crate.root);
    expect(fallback.exitCode).toBe(0);
    expect(fallback.stderr).toMatch(/^rch: the rch daemon is unavailable \(.*uid 65534.*\); syncing from this process instead$/m);
    killDaemon(home.env);
  });

  it('builds in process with a notice when the daemon cannot start', async () => {
    const crate = await createTinyCrate();
    const blocker = path.join(client.home, 'not-a-folder');
    await fs.writeFile(blocker, '');
    const env = { ...client.env, XDG_RUNTIME_DIR: blocker };

    const result = await buildWithSelectedRunner(env, crate.root);
    expect(result.exitCode).toBe(0);
    const notices = result.stderr.split('\n').filter((line) => line.startsWith('rch:'));
    expect(notices).toEqual([`rch: the rch daemon is unavailable (cannot use ${path.join(blocker, 'rch')} for the daemon: ENOTDIR); syncing from this process instead`]);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('hello from rch');
  });

  it('skips the daemon with RCH_NO_DAEMON=1', async () => {
    const home = await createClientHome([worker]);
    const crate = await createTinyCrate();
    const result = await buildWithSelectedRunner({ ...home.env, RCH_NO_DAEMON: '1' }, crate.root);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).not.toContain('rch:');
    expect(readDaemonPidFile(home.env)).toBeUndefined();
  });

  it('builds correctly after the daemon was killed mid-build', async () => {
    const crate = await createSlowCrate();
    await buildViaDaemon(client.env, crate.root);
    await fs.writeFile(path.join(crate.root, 'build.rs'), 'fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(3));\n}\n');
    const killedPid = readDaemonPidFile(client.env);

    const interrupted = await buildViaDaemon(client.env, crate.root, {
      onStderr: (text) => {
        if (text.includes('Compiling slow')) killDaemon(client.env);
      },
    }).catch((error: unknown) => error);
    expect(isRchError(interrupted, 'RCH_DAEMON_LOST')).toBe(true);
    expect((interrupted as { kind: string }).kind).toBe('transport');

    await fs.writeFile(path.join(crate.root, 'src/main.rs'), 'fn main() {\n    println!("slow v2");\n}\n');
    const result = await buildViaDaemon(client.env, crate.root);
    expect(result.exitCode).toBe(0);
    expect(readDaemonPidFile(client.env)).not.toBe(killedPid);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/slow'));
    expect(stdout).toBe('slow v2');
  });

  it('aborts a build whose client goes away', async () => {
    const crate = await createSlowCrate();
    const controller = new AbortController();
    const aborted = await buildViaDaemon(client.env, crate.root, {
      signal: controller.signal,
      onStderr: (text) => {
        if (text.includes('Compiling slow')) controller.abort('SIGINT');
      },
    }).catch((error: unknown) => error);
    expect(aborted).toBe('SIGINT');
    await waitFor(async () => /build b\d+: aborting: SIGINT/.test(await readDaemonLog(client.env)), 10_000, 'the abort in the daemon log');

    const result = await buildViaDaemon(client.env, crate.root);
    expect(result.exitCode).toBe(0);
  });

  it('refuses to start a second daemon', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    const second = await runRch(['daemon', 'run'], { cwd: crate.root, env: client.env, timeoutMs: 20_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`rch: an rch daemon already runs as pid ${readDaemonPidFile(client.env)}`);
  });

  it('exits after the idle time', async () => {
    const home = await createClientHome([worker]);
    const env = { ...home.env, RCH_DAEMON_IDLE_SECONDS: '1' };
    const crate = await createTinyCrate();
    await buildViaDaemon(env, crate.root);
    const pid = readDaemonPidFile(env);
    const { socket } = resolveDaemonPaths(resolvePaths(env), env);

    await waitFor(() => readDaemonPidFile(env) === undefined, 10_000, 'the idle daemon to exit');
    await expect(fs.access(socket)).rejects.toThrow();
    expect(await readDaemonLog(env)).toMatch(new RegExp(`rchd\\[${pid}\\] info stopping: idle for 1 s`));
  });

  it('scans in full after the inotify watch limit', async () => {
    const home = await createClientHome([worker]);
    const crate = await createTinyCrate();
    // A user namespace of its own lets the test lower the limit for the daemon alone.
    const daemon = execa(
      'unshare',
      ['-Ur', 'sh', '-c', 'echo 1 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"', process.execPath, rchBin, 'daemon', 'run'],
      { env: home.env, extendEnv: false, reject: false, stdio: 'ignore' },
    );
    try {
      const daemonPaths = resolveDaemonPaths(resolvePaths(home.env), home.env);
      await waitFor(async () => (await DaemonClient.connect(daemonPaths).catch(() => undefined)) !== undefined, 10_000, 'the daemon');
      expect(readDaemonPidFile(home.env)).toBe(daemon.pid);

      expect((await buildViaDaemon(home.env, crate.root)).exitCode).toBe(0);
      await writeFileTree(crate.root, { 'src/extra.rs': 'pub fn extra() {}\n', 'assets/new.txt': 'new\n' });
      expect((await buildViaDaemon(home.env, crate.root)).exitCode).toBe(0);
      await expectWorkerCopyMatches(crate.root, worker.remoteBase);
      const log = await readDaemonLog(home.env);
      expect(log).toContain('inotify limit reached, builds scan in full');
      expect(log).toContain('state degraded');
    } finally {
      daemon.kill('SIGKILL');
      await daemon;
    }
  });

  it('scans in full after an event overflow', async () => {
    const crate = await createTinyCrate();
    await writeFileTree(crate.root, { 'data/.keep': '' });
    await buildViaDaemon(client.env, crate.root);
    const pid = readDaemonPidFile(client.env) as number;

    // A stopped daemon reads no events, so the kernel's queue overflows and drops the rest.
    process.kill(pid, 'SIGSTOP');
    try {
      for (let batch = 0; batch < 60; batch++) {
        await Promise.all(Array.from({ length: 200 }, (_, index) => fs.writeFile(path.join(crate.root, `data/f${batch}-${index}.txt`), `${index}\n`)));
      }
      await fs.writeFile(path.join(crate.root, 'src/main.rs'), 'fn main() {\n    println!("after the overflow");\n}\n');
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    expect(await readDaemonLog(client.env)).toContain('full scan (the inotify queue may have overflowed)');
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('after the overflow');
  });
});
