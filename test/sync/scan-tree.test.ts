import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanTree } from '../../lib/sync/scan-tree.js';

let root: string;

async function write(files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await fs.writeFile(path.join(root, name), content);
  }
}

async function scannedNames(options: { excludedFolders?: string[]; extraExcludes?: string[] } = {}): Promise<string[]> {
  const entries = await scanTree({
    roots: [root],
    excludedFolders: options.excludedFolders ?? [],
    extraExcludes: options.extraExcludes ?? [],
  });
  return [...entries.keys()].map((file) => path.relative(root, file)).filter(Boolean).sort();
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-scan-'));
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('scanTree', () => {
  it('skips .git, the target directory and folders tagged by cargo', async () => {
    await write({
      'src/main.rs': '',
      '.git/HEAD': '',
      'target/debug/x': '',
      'libs/util/target/CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc55',
      'libs/util/target/debug/y': '',
      'libs/util/src/lib.rs': '',
    });
    expect(await scannedNames({ excludedFolders: [path.join(root, 'target')] })).toEqual([
      'libs',
      'libs/util',
      'libs/util/src',
      'libs/util/src/lib.rs',
      'src',
      'src/main.rs',
    ]);
  });

  it('applies nested .gitignore files with negation', async () => {
    await write({
      '.gitignore': '*.log\n',
      'a.log': '',
      'sub/.gitignore': '!keep.log\n',
      'sub/keep.log': '',
      'sub/drop.log': '',
    });
    expect(await scannedNames()).toEqual(['.gitignore', 'sub', 'sub/.gitignore', 'sub/keep.log']);
  });

  it('never sends secrets unless .rchignore re-includes them', async () => {
    await write({
      '.env': 'TOKEN=1',
      '.env.local': '',
      'certs/server.pem': '',
      'id.key': '',
      '.cargo/credentials.toml': '',
      '.cargo/config.toml': '',
      'fixtures/.env.test': '',
      '.rchignore': '!fixtures/.env.test\n',
    });
    expect(await scannedNames()).toEqual([
      '.cargo',
      '.cargo/config.toml',
      '.rchignore',
      'certs',
      'fixtures',
      'fixtures/.env.test',
    ]);
  });

  it('applies the project exclude list', async () => {
    await write({ 'data/big.bin': '', 'src/lib.rs': '' });
    expect(await scannedNames({ extraExcludes: ['data/'] })).toEqual(['src', 'src/lib.rs']);
  });

  it('keeps links inside the tree and dereferences files outside it', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-outside-'));
    await write({ 'src/lib.rs': 'x' });
    await fs.writeFile(path.join(outside, 'shared.rs'), 'shared');
    await fs.symlink('src/lib.rs', path.join(root, 'inner-link'));
    await fs.symlink(path.join(root, 'src'), path.join(root, 'absolute-inner'));
    await fs.symlink(path.join(outside, 'shared.rs'), path.join(root, 'outer-file'));
    await fs.symlink(outside, path.join(root, 'outer-folder'));

    const entries = await scanTree({ roots: [root], excludedFolders: [], extraExcludes: [] });
    expect(entries.get(path.join(root, 'inner-link'))).toMatchObject({ type: 'symlink', target: 'src/lib.rs' });
    expect(entries.get(path.join(root, 'absolute-inner'))).toMatchObject({ type: 'symlink', target: 'src' });
    expect(entries.get(path.join(root, 'outer-file'))).toMatchObject({ type: 'file', size: 6 });
    expect(entries.has(path.join(root, 'outer-folder'))).toBe(false);
    await fs.rm(outside, { recursive: true, force: true });
  });
});
