import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture, createPathDependencyProject, createTinyCrate, writeFileTree } from '../helpers/fixtures.js';
import { runRch } from '../helpers/run.js';
import { changedKeys, snapshotChangeTimes, workerCopyOf } from '../helpers/remote-copy.js';
import { buildViaDaemon, expectWorkerCopyMatches, readDaemonPidFile } from './daemon-helpers.js';

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

describe('builds through the daemon', () => {
  it('builds a crate whose binary runs locally', async () => {
    const crate = await createTinyCrate();
    const result = await buildViaDaemon(client.env, crate.root);

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('Compiling hello');
    expect(result.artifactsPulled).toBeGreaterThan(0);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('hello from rch');
    expect(readDaemonPidFile(client.env)).toBeGreaterThan(0);
  });

  it('keeps the worker copy exact through file edits', async () => {
    const crate = await createTinyCrate();
    const file = (relative: string): string => path.join(crate.root, relative);
    await buildViaDaemon(client.env, crate.root);

    await fs.writeFile(file('src/util.rs'), 'pub fn util() {}\n');
    await fs.writeFile(file('README.md'), 'readme\n');
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);

    await fs.writeFile(file('src/util.rs'), 'pub fn util() -> u32 { 1 }\n');
    await fs.rm(file('README.md'));
    await fs.rename(file('src/util.rs'), file('src/helpers.rs'));
    await fs.chmod(file('src/helpers.rs'), 0o755);
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('keeps the worker copy exact through folder renames', async () => {
    const crate = await createTinyCrate();
    const file = (relative: string): string => path.join(crate.root, relative);
    await writeFileTree(crate.root, { 'assets/a/one.txt': 'one\n', 'assets/a/deep/two.txt': 'two\n', 'assets/b/three.txt': 'three\n' });
    await buildViaDaemon(client.env, crate.root);

    await fs.rename(file('assets/a'), file('assets/renamed'));
    await fs.writeFile(file('assets/renamed/deep/two.txt'), 'edited after the rename\n');
    await fs.rm(file('assets/b'), { recursive: true });
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);

    await fs.writeFile(file('assets/renamed/deep/new.txt'), 'new in the renamed folder\n');
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('sends an atomic save', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    const temporary = path.join(crate.root, 'src/.main.rs.swp');
    await fs.writeFile(temporary, 'fn main() {\n    println!("saved atomically");\n}\n');
    await fs.rename(temporary, path.join(crate.root, 'src/main.rs'));

    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('saved atomically');
  });

  it('sends nothing for a touch without change', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    const workerRoot = workerCopyOf(worker.remoteBase, crate.root);
    const before = await snapshotChangeTimes(workerRoot);
    const later = new Date(Date.now() + 10_000);
    await fs.utimes(path.join(crate.root, 'src/main.rs'), later, later);

    const result = await buildViaDaemon(client.env, crate.root);
    expect(result.exitCode).toBe(0);
    expect(result.filesSent).toBe(0);
    expect(changedKeys(before, await snapshotChangeTimes(workerRoot))).toEqual([]);
  });

  it('keeps the worker copy exact through 1,000 changed files', async () => {
    const crate = await createTinyCrate();
    const tree: Record<string, string> = {};
    for (let index = 0; index < 1000; index++) tree[`data/d${index % 25}/f${index}.txt`] = `file ${index}\n`;
    await writeFileTree(crate.root, tree);
    await buildViaDaemon(client.env, crate.root);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);

    const changes: Array<Promise<unknown>> = [];
    for (let index = 0; index < 1000; index++) {
      const name = path.join(crate.root, `data/d${index % 25}/f${index}.txt`);
      if (index % 3 === 0) changes.push(fs.rm(name));
      else changes.push(fs.writeFile(name, `changed ${index}\n`));
    }
    for (let index = 0; index < 200; index++) {
      changes.push(writeFileTree(crate.root, { [`data/new${index % 10}/g${index}.txt`]: `new ${index}\n` }));
    }
    await Promise.all(changes);
    const result = await buildViaDaemon(client.env, crate.root);
    expect(result.exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('keeps a git branch switch exact', async () => {
    const crate = await createTinyCrate();
    const git = (...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: crate.root });
    await git('init', '-q', '-b', 'main');
    await writeFileTree(crate.root, { 'src/a.rs': 'a\n', 'docs/guide.md': 'guide\n' });
    await git('add', '-A');
    await git('commit', '-q', '-m', 'main');
    await git('checkout', '-q', '-b', 'other');
    await fs.rm(path.join(crate.root, 'docs'), { recursive: true });
    await writeFileTree(crate.root, { 'src/a.rs': 'a on the other branch\n', 'examples/demo.rs': 'fn main() {}\n' });
    await git('add', '-A');
    await git('commit', '-q', '-m', 'other');
    await buildViaDaemon(client.env, crate.root);

    await git('checkout', '-q', 'main');
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
    await git('checkout', '-q', 'other');
    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('sends changes made during a sync with the next build', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    // A large file keeps the next sync busy long enough for edits to land while it runs.
    await fs.writeFile(path.join(crate.root, 'blob.bin'), Buffer.alloc(48 * 1024 * 1024, 7));
    const edited = path.join(crate.root, 'src/edited.rs');
    let building = true;
    const build = buildViaDaemon(client.env, crate.root).finally(() => (building = false));
    let edits = 0;
    while (building) {
      await fs.writeFile(edited, `// edit ${edits++}\n`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await build).exitCode).toBe(0);
    expect(edits).toBeGreaterThan(1);

    expect((await buildViaDaemon(client.env, crate.root)).exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('restores a worker copy deleted behind its back', async () => {
    const crate = await createTinyCrate();
    await buildViaDaemon(client.env, crate.root);
    await fs.rm(workerCopyOf(worker.remoteBase, crate.root), { recursive: true, force: true });

    const result = await buildViaDaemon(client.env, crate.root);
    expect(result.exitCode).toBe(0);
    await expectWorkerCopyMatches(crate.root, worker.remoteBase);
  });

  it('watches path dependencies outside the workspace', async () => {
    const project = await createPathDependencyProject();
    await buildViaDaemon(client.env, project.app);
    await fs.writeFile(path.join(project.util, 'src/lib.rs'), 'pub fn message() -> &\'static str {\n    "util changed"\n}\n');

    expect((await buildViaDaemon(client.env, project.app)).exitCode).toBe(0);
    await expectWorkerCopyMatches(project.util, worker.remoteBase);
    const { stdout } = await execa(path.join(project.app, 'target/debug/app'));
    expect(stdout).toBe('util changed');
  });

  it('reports its state with status --json', async () => {
    const crate = await createFixture({ 'Cargo.toml': '[package]\nname = "status"\nversion = "0.1.0"\nedition = "2021"\n', 'src/lib.rs': '' });
    await buildViaDaemon(client.env, crate.root, { args: ['check'] });
    const result = await runRch(['daemon', 'status', '--json'], { cwd: crate.root, env: client.env });
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout) as Record<string, unknown> & {
      projects: Array<{ workspaceRoot: string; files: number; state: string; readyMs: number }>;
      connections: Array<{ worker: string; state: string }>;
      memory: { rss: number; heapUsed: number };
    };
    expect(status.pid).toBe(readDaemonPidFile(client.env));
    expect(status.socket).toBe(path.join(client.env.XDG_RUNTIME_DIR as string, 'rch', 'rchd.sock'));
    expect(status.uptimeSeconds).toEqual(expect.any(Number));
    const project = status.projects.find((entry) => entry.workspaceRoot === crate.root);
    // Cargo.toml, src/lib.rs and the Cargo.lock that cargo metadata wrote.
    expect(project).toMatchObject({ state: 'watching', files: 3, readyMs: expect.any(Number) });
    expect(status.connections).toContainEqual(expect.objectContaining({ worker: worker.workerId, state: 'ready' }));
    expect(status.memory.rss).toBeGreaterThan(0);
    expect(status.memory.heapUsed).toBeGreaterThan(0);
  });
});
