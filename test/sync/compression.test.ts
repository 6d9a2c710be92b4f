import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { connectWorker, type SshConnection } from '../../lib/ssh/connection.js';
import { buildPackCommand, pullArtifacts } from '../../lib/artifacts/pull-artifacts.js';
import {
  decideCompression,
  isLoopbackHost,
  MIN_COMPRESSED_BYTES,
  readCompressionSetting,
  SLOW_EXEC_MS,
} from '../../lib/sync/compression.js';
import { RchError } from '../../lib/errors.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture, createTinyCrate, writeFileTree } from '../helpers/fixtures.js';
import { runCargo } from '../helpers/run.js';
import { workerCopyOf } from '../helpers/remote-copy.js';

const LARGE = MIN_COMPRESSED_BYTES * 4;

describe('compression choice', () => {
  it.each([
    ['gzip forced on loopback', { setting: 'gzip', hostname: '127.0.0.1', payloadBytes: 1 }, 'gzip'],
    ['none forced on a slow link', { setting: 'none', hostname: 'far.example', payloadBytes: LARGE, execMs: 500 }, 'none'],
    ['auto on loopback', { setting: 'auto', hostname: '127.0.0.1', payloadBytes: LARGE, execMs: 500 }, 'none'],
    ['auto with a small payload', { setting: 'auto', hostname: 'far.example', payloadBytes: 1000, execMs: 500 }, 'none'],
    ['auto on a fast link', { setting: 'auto', hostname: 'builder.lan', payloadBytes: LARGE, execMs: SLOW_EXEC_MS - 1 }, 'none'],
    ['auto on a slow link', { setting: 'auto', hostname: 'far.example', payloadBytes: LARGE, execMs: SLOW_EXEC_MS + 1 }, 'gzip'],
    ['auto before a probe', { setting: 'auto', hostname: 'far.example', payloadBytes: LARGE }, undefined],
  ] as const)('%s', (_name, input, expected) => {
    expect(decideCompression(input)).toBe(expected);
  });

  it('reads RCH_COMPRESSION', () => {
    expect(readCompressionSetting({})).toBe('auto');
    expect(readCompressionSetting({ RCH_COMPRESSION: '' })).toBe('auto');
    expect(readCompressionSetting({ RCH_COMPRESSION: 'GZIP' })).toBe('gzip');
    expect(readCompressionSetting({ RCH_COMPRESSION: 'none' })).toBe('none');
  });

  it('rejects an unknown RCH_COMPRESSION value', () => {
    expect(() => readCompressionSetting({ RCH_COMPRESSION: 'zstd' })).toThrow(RchError);
    expect(() => readCompressionSetting({ RCH_COMPRESSION: 'zstd' })).toThrow(/RCH_COMPRESSION=zstd is invalid/);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['10.0.0.5', false],
    ['builder.lan', false],
    ['128.0.0.1', false],
  ])('treats %s as loopback: %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('compressed transfers', () => {
  let worker: SshdWorker;
  let client: ClientHome;
  let connection: SshConnection;

  beforeAll(async () => {
    worker = await startWorkerSshd();
    client = await createClientHome([worker]);
    const [config] = await loadWorkers(resolvePaths(client.env), client.env);
    connection = await connectWorker(config!, { paths: resolvePaths(client.env), env: client.env });
  });

  afterAll(async () => {
    connection?.close();
    await client?.cleanup();
    await worker?.stop();
  });

  it('syncs and pulls a crate with gzip', async () => {
    const crate = await createTinyCrate();
    // Above the size that is read whole, so this file is streamed through gzip.
    const noise = randomBytes(9 * 1024 * 1024);
    const text = 'fn unused() {}\n'.repeat(150_000);
    await fs.writeFile(path.join(crate.root, 'noise.bin'), noise);
    await writeFileTree(crate.root, { 'src/text.rs': text });

    // In this process, not in a daemon, so that the debug lines reach this stderr.
    const env = { ...client.env, RCH_COMPRESSION: 'gzip', RCH_NO_DAEMON: '1', DEBUG: 'rch:sync,rch:artifacts' };
    const result = await runCargo(['build'], { cwd: crate.root, env });

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/rch:sync sending \d+ paths \(\d+ bytes, compression gzip\)/);
    expect(result.stderr).toMatch(/rch:artifacts fetching \d+ bytes, compression gzip/);
    const workerRoot = workerCopyOf(worker.remoteBase, crate.root);
    expect((await fs.readFile(path.join(workerRoot, 'noise.bin'))).equals(noise)).toBe(true);
    expect(await fs.readFile(path.join(workerRoot, 'src/text.rs'), 'utf8')).toBe(text);
    const { stdout } = await execa(path.join(crate.root, 'target/debug/hello'));
    expect(stdout).toBe('hello from rch');
  });

  it('pulls large artifacts with gzip', async () => {
    const remote = await createFixture({});
    const local = await createFixture({});
    const remoteTarget = workerCopyOf(worker.remoteBase, path.join(remote.root, 'target'));
    const big = randomBytes(12 * 1024 * 1024);
    await writeFileTree(remoteTarget, { 'debug/libbig.rlib': '', 'debug/deps/info.d': 'dep: a b c\n'.repeat(10_000) });
    await fs.writeFile(path.join(remoteTarget, 'debug/libbig.rlib'), big);
    await fs.chmod(path.join(remoteTarget, 'debug/deps/info.d'), 0o755);
    await fs.utimes(path.join(remoteTarget, 'debug/libbig.rlib'), 1_700_000_000.5, 1_700_000_000.5);
    await fs.symlink('deps/info.d', path.join(remoteTarget, 'debug/info-link'));

    const localTarget = path.join(local.root, 'target');
    const summary = await pullArtifacts({ connection, remoteTargetDir: remoteTarget, localTargetDir: localTarget, compression: 'gzip' });

    expect(summary.files).toBe(3);
    expect((await fs.readFile(path.join(localTarget, 'debug/libbig.rlib'))).equals(big)).toBe(true);
    expect(await fs.readFile(path.join(localTarget, 'debug/deps/info.d'), 'utf8')).toBe('dep: a b c\n'.repeat(10_000));
    expect((await fs.stat(path.join(localTarget, 'debug/deps/info.d'))).mode & 0o777).toBe(0o755);
    expect((await fs.stat(path.join(localTarget, 'debug/libbig.rlib'))).mtimeMs).toBe(1_700_000_000_500);
    expect(await fs.readlink(path.join(localTarget, 'debug/info-link'))).toBe('deps/info.d');
  });

  it.each(['none', 'gzip'] as const)('fails the pack of a missing file (%s)', async (compression) => {
    const remote = await createFixture({});
    const remoteTarget = workerCopyOf(worker.remoteBase, path.join(remote.root, 'target'));
    await writeFileTree(remoteTarget, { 'debug/app': 'binary' });

    const result = await connection.capture(buildPackCommand(remoteTarget, compression), 'debug/app\0debug/missing\0');

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('debug/missing');
  });
});
