import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProjectLayoutCached } from '../../lib/sync/layout-cache.js';
import { createPathDependencyProject, type PathDependencyFixture } from '../helpers/fixtures.js';

const realCargo = '/root/.cargo/bin/cargo';
const env = { PATH: '/root/.cargo/bin:/usr/bin:/bin', RUSTUP_HOME: '/root/.rustup', CARGO_HOME: '/root/.cargo', HOME: '/root' };
let project: PathDependencyFixture;
let cacheFolder: string;

beforeAll(async () => {
  project = await createPathDependencyProject();
  cacheFolder = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-layout-cache-'));
});

afterAll(async () => {
  await fs.rm(cacheFolder, { recursive: true, force: true });
});

/** Sets a file's mtime into the past, so the cache does not treat it as edited during a run. */
async function age(file: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await fs.utimes(file, past, past);
}

describe('readProjectLayoutCached', () => {
  it('reuses the layout until a manifest changes', async () => {
    const options = { realCargo, cwd: project.app, env, cargoArgs: [] };
    const first = await readProjectLayoutCached(options, cacheFolder);
    expect(first.roots).toEqual([project.app, project.util]);
    for (const manifest of ['app/Cargo.toml', 'app/Cargo.lock', 'libs/util/Cargo.toml']) await age(path.join(project.root, manifest));
    await readProjectLayoutCached(options, cacheFolder);

    const [cacheFile] = await fs.readdir(path.join(cacheFolder, 'layouts'));
    const cached = JSON.parse(await fs.readFile(path.join(cacheFolder, 'layouts', cacheFile!), 'utf8'));
    cached.layout.roots = ['/marker-from-cache'];
    await fs.writeFile(path.join(cacheFolder, 'layouts', cacheFile!), JSON.stringify(cached));
    expect((await readProjectLayoutCached(options, cacheFolder)).roots).toEqual(['/marker-from-cache']);

    await fs.appendFile(path.join(project.util, 'Cargo.toml'), '\n# edited\n');
    expect((await readProjectLayoutCached(options, cacheFolder)).roots).toEqual([project.app, project.util]);
  });
});
