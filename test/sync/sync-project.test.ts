import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createTinyCrate, writeFileTree, type Fixture } from '../helpers/fixtures.js';
import { runCargo } from '../helpers/run.js';
import { changedKeys, snapshotChangeTimes, snapshotInodes, workerCopyOf } from '../helpers/remote-copy.js';

let worker: SshdWorker;
let client: ClientHome;
let crate: Fixture;
let workerRoot: string;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

beforeEach(async () => {
  crate = await createTinyCrate();
  workerRoot = workerCopyOf(worker.remoteBase, crate.root);
});

async function build(args = ['build']) {
  const result = await runCargo(args, { cwd: crate.root, env: client.env });
  expect(result.stderr.split('\n').filter((line) => line.startsWith('rch:'))).toEqual([]);
  return result;
}

describe('source sync', () => {
  it('sends nothing and compiles nothing when nothing changed', async () => {
    expect((await build()).exitCode).toBe(0);
    const workerBefore = await snapshotChangeTimes(workerRoot);
    const localBefore = await snapshotInodes(path.join(crate.root, 'target'));

    const second = await build();
    expect(second.exitCode).toBe(0);
    expect(second.stderr).not.toContain('Compiling');
    expect(changedKeys(workerBefore, await snapshotChangeTimes(workerRoot))).toEqual([]);
    // The local `cargo metadata` that rch runs may write its own rustc cache; rch did not bring it.
    const localChanges = changedKeys(localBefore, await snapshotInodes(path.join(crate.root, 'target')));
    expect(localChanges.filter((file) => file !== '.rustc_info.json')).toEqual([]);
  });

  it('sends an edited file alone', async () => {
    await writeFileTree(crate.root, { 'src/extra.rs': 'pub fn unused() {}\n' });
    expect((await build()).exitCode).toBe(0);
    const before = await snapshotChangeTimes(workerRoot);

    await fs.appendFile(path.join(crate.root, 'src/main.rs'), '\n// edited\n');
    const result = await build();
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('Compiling hello');
    expect(changedKeys(before, await snapshotChangeTimes(workerRoot))).toEqual(['src/main.rs']);
    expect(await fs.readFile(path.join(workerRoot, 'src/main.rs'), 'utf8')).toContain('// edited');
  });

  it('removes a deleted file on the worker', async () => {
    await writeFileTree(crate.root, { 'notes/todo.txt': 'x', 'notes/keep.txt': 'y' });
    expect((await build()).exitCode).toBe(0);
    await fs.access(path.join(workerRoot, 'notes/todo.txt'));

    await fs.rm(path.join(crate.root, 'notes/todo.txt'));
    expect((await build()).exitCode).toBe(0);
    await expect(fs.access(path.join(workerRoot, 'notes/todo.txt'))).rejects.toThrow();
    await fs.access(path.join(workerRoot, 'notes/keep.txt'));
  });

  it('keeps mtimes, executable bits and symlinks', async () => {
    await writeFileTree(crate.root, { 'scripts/run.sh': '#!/bin/sh\necho hi\n' });
    await fs.chmod(path.join(crate.root, 'scripts/run.sh'), 0o755);
    await fs.symlink('run.sh', path.join(crate.root, 'scripts/alias.sh'));
    await fs.utimes(path.join(crate.root, 'scripts/run.sh'), 1_600_000_000.25, 1_600_000_000.25);
    expect((await build()).exitCode).toBe(0);

    const local = await fs.stat(path.join(crate.root, 'scripts/run.sh'), { bigint: true });
    const remote = await fs.stat(path.join(workerRoot, 'scripts/run.sh'), { bigint: true });
    expect(remote.mtimeNs).toBe(local.mtimeNs);
    expect(Number(remote.mode & 0o777n)).toBe(0o755);
    expect(await fs.readlink(path.join(workerRoot, 'scripts/alias.sh'))).toBe('run.sh');
  });

  it('never sends secrets or ignored files', async () => {
    await writeFileTree(crate.root, { '.env': 'TOKEN=secret', 'server.pem': 'x', 'debug.log': 'x', '.gitignore': '/target\n*.log\n' });
    expect((await build()).exitCode).toBe(0);
    for (const name of ['.env', 'server.pem', 'debug.log']) {
      await expect(fs.access(path.join(workerRoot, name))).rejects.toThrow();
    }
  });

  it('restores a worker copy deleted behind its back', async () => {
    expect((await build()).exitCode).toBe(0);
    await fs.rm(workerRoot, { recursive: true, force: true });

    const result = await build();
    expect(result.exitCode).toBe(0);
    expect(await fs.readFile(path.join(workerRoot, 'src/main.rs'), 'utf8')).toContain('hello from rch');
  });

  it('passes shell metacharacters in argv verbatim', async () => {
    await writeFileTree(crate.root, {
      'Cargo.toml': `${await fs.readFile(path.join(crate.root, 'Cargo.toml'), 'utf8')}\n[[test]]\nname = "args"\nharness = false\n`,
      'tests/args.rs': 'fn main() {\n    for arg in std::env::args().skip(1) {\n        println!("ARG<{arg}>");\n    }\n}\n',
    });
    // Outside remote_base, whose paths rch maps back in output.
    const marker = path.join(os.tmpdir(), `rch-pwned-${process.pid}`);
    const tricky = ['a b', `$(touch ${marker})`, '; echo injected', "it's", 'line\nbreak', '`id`', '"quoted"', '*', '~'];
    const result = await build(['test', '--test', 'args', '--', ...tricky]);

    expect(result.exitCode).toBe(0);
    for (const arg of tricky) expect(result.stdout).toContain(`ARG<${arg}>`);
    await expect(fs.access(marker)).rejects.toThrow();
  });
});
