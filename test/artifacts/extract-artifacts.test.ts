import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArtifacts } from '../../lib/artifacts/extract-artifacts.js';

type EntrySpec = Parameters<tar.Pack['entry']>[0] & { content?: string };

let folder: string;
let target: string;

async function archiveOf(entries: EntrySpec[]): Promise<Readable> {
  const pack = tar.pack();
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, content ?? '', (error) => (error ? reject(error) : resolve())),
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(Buffer.from(chunk as Uint8Array));
  return Readable.from([Buffer.concat(chunks)]);
}

beforeEach(async () => {
  folder = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-extract-'));
  target = path.join(folder, 'target');
  await fs.mkdir(target);
});

afterEach(async () => {
  await fs.rm(folder, { recursive: true, force: true });
});

describe('extractArtifacts', () => {
  it('writes files with their mode and nanosecond mtime', async () => {
    const archive = await archiveOf([
      { name: 'debug/app', type: 'file', mode: 0o755, content: 'binary', pax: { mtime: '1700000000.123456789' } },
      { name: 'debug/deps/app-1', type: 'link', linkname: 'debug/app' },
      { name: 'debug/alias', type: 'symlink', linkname: 'app' },
    ]);
    const summary = await extractArtifacts(archive, target);

    expect(summary.files).toBe(3);
    const stats = await fs.stat(path.join(target, 'debug/app'));
    expect(stats.mode & 0o777).toBe(0o755);
    expect(Math.abs(stats.mtimeMs - 1700000000123.456789)).toBeLessThan(0.01);
    expect(await fs.readFile(path.join(target, 'debug/deps/app-1'), 'utf8')).toBe('binary');
    expect(await fs.readlink(path.join(target, 'debug/alias'))).toBe('app');
    expect((await fs.readdir(path.join(target, 'debug'))).filter((name) => name.includes('.rch-'))).toEqual([]);
  });

  it.each([
    ['a name with ..', { name: 'debug/../../escape', type: 'file' as const, content: 'x' }],
    ['an absolute name', { name: '/tmp/rch-escape', type: 'file' as const, content: 'x' }],
    ['a link leading out', { name: 'debug/out', type: 'symlink' as const, linkname: '../../..' }],
    ['an absolute link', { name: 'debug/out', type: 'symlink' as const, linkname: '/etc' }],
  ])('rejects %s', async (_label, entry) => {
    await expect(extractArtifacts(await archiveOf([entry]), target)).rejects.toMatchObject({
      code: 'RCH_ARTIFACT_UNSAFE',
    });
    expect(await fs.readdir(folder)).toEqual(['target']);
  });

  it('never writes through a local link that leads out', async () => {
    const outside = path.join(folder, 'outside');
    await fs.mkdir(outside);
    await fs.symlink(outside, path.join(target, 'debug'));
    const archive = await archiveOf([{ name: 'debug/sub/file', type: 'file', content: 'x' }]);

    await expect(extractArtifacts(archive, target)).rejects.toMatchObject({ code: 'RCH_ARTIFACT_UNSAFE' });
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('replaces an existing file atomically', async () => {
    await fs.mkdir(path.join(target, 'debug'));
    await fs.writeFile(path.join(target, 'debug/app'), 'old');
    const before = await fs.stat(path.join(target, 'debug/app'));
    await extractArtifacts(await archiveOf([{ name: 'debug/app', type: 'file', content: 'new' }]), target);

    const after = await fs.stat(path.join(target, 'debug/app'));
    expect(await fs.readFile(path.join(target, 'debug/app'), 'utf8')).toBe('new');
    expect(after.ino).not.toBe(before.ino);
  });
});
