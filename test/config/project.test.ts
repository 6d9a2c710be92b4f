import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadProjectConfig } from '../../lib/config/project.js';
import { RchError } from '../../lib/errors.js';

let root: string;
let workspace: string;
let member: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-project-'));
  workspace = path.join(root, 'workspace');
  member = path.join(workspace, 'crates', 'member');
  await fs.mkdir(member, { recursive: true });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function loadError(startDir: string): Promise<RchError> {
  const error = await loadProjectConfig(startDir, workspace).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(RchError);
  expect((error as RchError).code).toBe('RCH_PROJECT_CONFIG_INVALID');
  return error as RchError;
}

describe('loadProjectConfig', () => {
  it('returns defaults without a settings file', async () => {
    expect(await loadProjectConfig(member, workspace)).toEqual({
      exclude: [],
      env: [],
      forceLocal: false,
      source: undefined,
    });
  });

  it('reads rch.toml from the workspace root', async () => {
    const file = path.join(workspace, 'rch.toml');
    await fs.writeFile(file, 'exclude = ["data/", "*.bin"]\nenv = ["RUSTFLAGS", "MY_APP_*"]\nforce_local = true\n');
    expect(await loadProjectConfig(member, workspace)).toEqual({
      exclude: ['data/', '*.bin'],
      env: ['RUSTFLAGS', 'MY_APP_*'],
      forceLocal: true,
      source: file,
    });
  });

  it('prefers the file closest to the start folder', async () => {
    await fs.writeFile(path.join(workspace, 'rch.toml'), 'force_local = true\n');
    await fs.writeFile(path.join(member, '.rchrc.json'), '{ "env": ["CC"] }');
    const config = await loadProjectConfig(member, workspace);
    expect(config.env).toEqual(['CC']);
    expect(config.forceLocal).toBe(false);
    expect(config.source).toBe(path.join(member, '.rchrc.json'));
  });

  it('does not search above the workspace root', async () => {
    await fs.writeFile(path.join(root, 'rch.toml'), 'force_local = true\n');
    expect((await loadProjectConfig(member, workspace)).source).toBeUndefined();
  });

  it('reads the rch key of package.json', async () => {
    await fs.writeFile(path.join(workspace, 'package.json'), JSON.stringify({ name: 'x', rch: { exclude: ['node_modules/'] } }));
    expect((await loadProjectConfig(member, workspace)).exclude).toEqual(['node_modules/']);
  });

  it('skips a package.json without an rch key', async () => {
    await fs.writeFile(path.join(member, 'package.json'), JSON.stringify({ name: 'member' }));
    await fs.writeFile(path.join(workspace, '.rch.toml'), 'env = ["CC"]\n');
    expect((await loadProjectConfig(member, workspace)).env).toEqual(['CC']);
  });

  it('reads YAML from .rchrc', async () => {
    await fs.writeFile(path.join(workspace, '.rchrc'), 'force_local: true\nexclude:\n  - assets/\n');
    const config = await loadProjectConfig(workspace, workspace);
    expect(config.forceLocal).toBe(true);
    expect(config.exclude).toEqual(['assets/']);
  });

  it('rejects an invalid env pattern', async () => {
    const file = path.join(workspace, 'rch.toml');
    await fs.writeFile(file, 'env = ["RUST FLAGS"]\n');
    const error = await loadError(member);
    expect(error.message).toContain(file);
    expect(error.message).toContain('field "env"');
    expect(error.message).toContain('"RUST FLAGS"');
    expect(error.hint).toBe(`edit ${file}`);
  });

  it('rejects a non-boolean force_local', async () => {
    await fs.writeFile(path.join(workspace, 'rch.toml'), 'force_local = "yes"\n');
    const error = await loadError(member);
    expect(error.message).toContain('field "force_local" is "yes", expected true or false');
  });

  it('rejects a non-string exclude entry', async () => {
    await fs.writeFile(path.join(workspace, 'rch.toml'), 'exclude = [3]\n');
    const error = await loadError(member);
    expect(error.message).toContain('field "exclude" is 3');
  });

  it('suggests the closest name for an unknown field', async () => {
    await fs.writeFile(path.join(workspace, 'rch.toml'), 'forcelocal = true\n');
    const error = await loadError(member);
    expect(error.message).toContain('unknown field "forcelocal", did you mean "force_local"?');
  });

  it('reports TOML syntax errors with line and column', async () => {
    const file = path.join(workspace, 'rch.toml');
    await fs.writeFile(file, 'exclude = ["a"]\nenv = [\n');
    const error = await loadError(member);
    expect(error.message).toMatch(/rch\.toml:\d+:\d+: invalid TOML/);
    expect(error.message).toContain(file);
  });

  it('reports JSON syntax errors with the file', async () => {
    const file = path.join(workspace, '.rchrc.json');
    await fs.writeFile(file, '{ "env": [ }');
    const error = await loadError(member);
    expect(error.message).toContain(file);
    expect(error.hint).toContain(file);
  });
});
