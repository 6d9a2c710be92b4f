import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectChangedArtifacts, type RemoteArtifact } from '../../lib/artifacts/artifact-listing.js';
import { createFixture } from '../helpers/fixtures.js';

function remoteFile(file: string, size: number): RemoteArtifact {
  return { path: file, type: 'file', size, mtime: '1700000000.0000000000', mode: 0o644, linkTarget: '' };
}

describe('changed artifact selection', () => {
  it('keeps a local .rustc_info.json', async () => {
    const fixture = await createFixture({ 'target/.rustc_info.json': '{"local":true}', 'target/debug/app': 'old' });
    const target = path.join(fixture.root, 'target');

    const changed = await selectChangedArtifacts([remoteFile('.rustc_info.json', 99), remoteFile('debug/app', 3)], target);

    expect(changed.map((artifact) => artifact.path)).toEqual(['debug/app']);
  });

  it('fetches a missing .rustc_info.json', async () => {
    const fixture = await createFixture({ 'target/debug/app': 'old' });
    const target = path.join(fixture.root, 'target');
    await fs.utimes(path.join(target, 'debug/app'), 1_700_000_000, 1_700_000_000);

    const changed = await selectChangedArtifacts([remoteFile('.rustc_info.json', 99), remoteFile('debug/app', 3)], target);

    expect(changed.map((artifact) => artifact.path)).toEqual(['.rustc_info.json']);
  });
});
