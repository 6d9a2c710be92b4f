import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RemoteArtifact } from '../../lib/artifacts/artifact-listing.js';
import { pruneStaleArtifacts } from '../../lib/artifacts/prune-stale.js';

let target: string;

function remoteFile(file: string): RemoteArtifact {
  return { path: file, type: 'file', size: 1, mtime: '0', mode: 0o644, linkTarget: '' };
}

async function touch(file: string): Promise<void> {
  await fs.mkdir(path.dirname(path.join(target, file)), { recursive: true });
  await fs.writeFile(path.join(target, file), 'x');
}

async function exists(file: string): Promise<boolean> {
  return fs.access(path.join(target, file)).then(
    () => true,
    () => false,
  );
}

beforeEach(async () => {
  target = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-prune-'));
});

afterEach(async () => {
  await fs.rm(target, { recursive: true, force: true });
});

describe('pruneStaleArtifacts', () => {
  it('removes files the worker dropped from its folders', async () => {
    await touch('debug/.fingerprint/app-1/bin-app');
    await touch('debug/.fingerprint/app-1/output-bin-app');
    const removed = await pruneStaleArtifacts([remoteFile('debug/.fingerprint/app-1/bin-app')], target);

    expect(removed).toBe(1);
    expect(await exists('debug/.fingerprint/app-1/output-bin-app')).toBe(false);
    expect(await exists('debug/.fingerprint/app-1/bin-app')).toBe(true);
  });

  it('keeps folders the worker never built into', async () => {
    await touch('release/app');
    await touch('debug/incremental/app-1/s-1/dep-graph.bin');
    await pruneStaleArtifacts([remoteFile('debug/app'), remoteFile('debug/incremental/x')], target);

    expect(await exists('release/app')).toBe(true);
    expect(await exists('debug/incremental/app-1/s-1/dep-graph.bin')).toBe(true);
  });

  it('removes leftovers of an interrupted extraction', async () => {
    await touch('debug/app');
    await touch('debug/.app.rch-0a1b2c3d4e5f.tmp');
    await pruneStaleArtifacts([remoteFile('debug/app')], target);

    expect(await exists('debug/.app.rch-0a1b2c3d4e5f.tmp')).toBe(false);
    expect(await exists('debug/app')).toBe(true);
  });
});
