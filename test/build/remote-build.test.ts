import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import {
  createCompileErrorCrate,
  createFailingTestCrate,
  createPackagedCratesProject,
  createPathDependencyProject,
  createTinyCrate,
  createWorkspace,
} from '../helpers/fixtures.js';
import { runCargo } from '../helpers/run.js';
import { workerCopyOf } from '../helpers/remote-copy.js';

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

/** rch's own lines on stderr; a remote build prints none. */
function rchLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('rch:'));
}

describe('remote cargo build', () => {
  it('builds a tiny crate whose binary runs locally', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.stderr).toContain('Compiling hello');
    expect(rchLines(result.stderr)).toEqual([]);
    expect(result.exitCode).toBe(0);
    const workerSource = await fs.readFile(workerCopyOf(worker.remoteBase, path.join(crate.root, 'src/main.rs')), 'utf8');
    expect(workerSource).toContain('hello from rch');
    await fs.access(workerCopyOf(worker.remoteBase, path.join(crate.root, 'target/debug/hello')));
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('hello from rch');
  });

  it('builds Debian packaged crates remotely', async () => {
    const project = await createPackagedCratesProject();
    const result = await runCargo(['build'], { cwd: project.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(rchLines(result.stderr)).toEqual([]);
    expect(result.stderr).toMatch(/Compiling regex/);
    await fs.access(workerCopyOf(worker.remoteBase, path.join(project.root, 'target/debug/packaged')));
    const { stdout } = await execa(path.join(project.root, 'target/debug/packaged'), ['--pattern', 'r[a-z]+', '--text', 'hello rch']);
    expect(JSON.parse(stdout)).toEqual({ matches: ['rch'], pattern: 'r[a-z]+' });
  });

  it('sends a path dependency outside the package folder', async () => {
    const project = await createPathDependencyProject();
    const result = await runCargo(['build'], { cwd: project.app, env: client.env });

    expect(result.exitCode).toBe(0);
    const workerLib = workerCopyOf(worker.remoteBase, path.join(project.util, 'src/lib.rs'));
    expect(await fs.readFile(workerLib, 'utf8')).toContain('util says hi');
    const { stdout } = await execa(path.join(project.app, 'target/debug/app'));
    expect(stdout).toBe('util says hi');
  });

  it('puts a member build into the workspace target', async () => {
    const workspace = await createWorkspace();
    const result = await runCargo(['build'], { cwd: workspace.a, env: client.env });

    expect(result.exitCode).toBe(0);
    const { stdout } = await execa(path.join(workspace.root, 'target/debug/a'));
    expect(stdout).toBe('a uses b');
    await expect(fs.access(path.join(workspace.a, 'target'))).rejects.toThrow();
  });

  it('reports a compile error with local paths', async () => {
    const crate = await createCompileErrorCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(101);
    expect(result.stderr).toContain(`--> ${crate.errorLocation}`);
    expect(result.stderr).not.toContain(worker.remoteBase);
    expect(rchLines(result.stderr)).toEqual([]);
  });

  it('maps worker paths of a path dependency back to local ones', async () => {
    const project = await createPathDependencyProject();
    const brokenLib = path.join(project.util, 'src/lib.rs');
    await fs.writeFile(brokenLib, 'pub fn message() -> u32 {\n    "not a number"\n}\n');
    const result = await runCargo(['build', '--message-format=json'], { cwd: project.app, env: client.env });

    expect(result.exitCode).toBe(101);
    expect(result.stderr + result.stdout).toContain(brokenLib);
    expect(result.stderr + result.stdout).not.toContain(worker.remoteBase);
    const messages = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { reason: string });
    expect(messages.some((message) => message.reason === 'compiler-message')).toBe(true);
  });

  it('reports a failing test on stdout with exit 101', async () => {
    const crate = await createFailingTestCrate();
    const result = await runCargo(['test'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(101);
    expect(result.stdout).toContain(`${crate.failingTest} ... FAILED`);
    expect(result.stdout).toContain('test result: FAILED');
    expect(rchLines(result.stderr)).toEqual([]);
  });

  it('honours CARGO_TARGET_DIR without creating ./target', async () => {
    const crate = await createTinyCrate();
    const targetDir = path.join(crate.root, '..', `${path.basename(crate.root)}-out`);
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, CARGO_TARGET_DIR: targetDir } });

    expect(result.exitCode).toBe(0);
    const { stdout } = await execa(path.join(targetDir, 'debug/hello'));
    expect(stdout).toBe('hello from rch');
    await expect(fs.access(path.join(crate.root, 'target'))).rejects.toThrow();
    await fs.rm(targetDir, { recursive: true, force: true });
  });

  it('honours --target-dir', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build', '--target-dir', 'custom-out'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    await fs.access(path.join(crate.root, 'custom-out/debug/hello'));
    await expect(fs.access(path.join(crate.root, 'target'))).rejects.toThrow();
  });

  it('selects the toolchain given with +toolchain', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['+nightly', 'build', '-v'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/toolchains\/nightly-/);
    const rustcVersion = await execa('/root/.cargo/bin/rustc', ['+nightly', '--version'], { env: client.env });
    expect(rustcVersion.stdout).toContain('nightly');
  });
});
