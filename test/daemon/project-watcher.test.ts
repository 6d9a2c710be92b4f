import { writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanAndFingerprint, type TreeSnapshot } from '../../lib/build/remote-build.js';
import { openDaemonLog, type DaemonLog } from '../../lib/daemon/daemon-log.js';
import { ProjectWatcher } from '../../lib/daemon/project-watcher.js';
import { WatchBarrier } from '../../lib/daemon/watch-barrier.js';
import { OverflowMonitor } from '../../lib/daemon/watch-overflow.js';
import type { ProjectLayout } from '../../lib/sync/cargo-metadata.js';
import { writeFileTree } from '../helpers/fixtures.js';

let scratch: string;
let root: string;
let layout: ProjectLayout;
let log: DaemonLog;
let watchers: ProjectWatcher[];
let scanCount: number;

beforeEach(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-watch-'));
  root = path.join(scratch, 'project');
  layout = { workspaceRoot: root, targetDir: path.join(root, 'target'), roots: [root] };
  log = openDaemonLog(path.join(scratch, 'rchd.log'));
  watchers = [];
  scanCount = 0;
  await writeFileTree(root, {
    '.gitignore': '/target\n',
    'Cargo.toml': '[package]\nname = "w"\nversion = "0.1.0"\n',
    'src/main.rs': 'fn main() {}\n',
    'src/a/one.rs': 'one\n',
    'src/b/two.rs': 'two\n',
    'target/debug/out': 'build output\n',
  });
});

afterEach(async () => {
  await Promise.all(watchers.map((watcher) => watcher.close()));
  log.close();
  await fs.rm(scratch, { recursive: true, force: true });
});

function createWatcher(options: { overflow?: OverflowMonitor; barrierFolder?: string; exclude?: string[] } = {}): ProjectWatcher {
  const watcher = new ProjectWatcher({
    layout,
    exclude: options.exclude ?? [],
    indexFile: path.join(scratch, 'index.json'),
    barrier: new WatchBarrier(options.barrierFolder ?? path.join(scratch, 'barrier')),
    overflow: options.overflow ?? new OverflowMonitor(),
    log,
  });
  watchers.push(watcher);
  return watcher;
}

/** A full scan with a fresh hash index, which is what the worker must end up holding. */
function scanFresh(exclude: string[] = []): Promise<TreeSnapshot> {
  return scanAndFingerprint(layout, { exclude, env: [], forceLocal: false, source: undefined }, path.join(scratch, `scan-${scanCount++}.json`));
}

async function expectAgreement(watcher: ProjectWatcher, exclude: string[] = []): Promise<TreeSnapshot> {
  const watched = await watcher.snapshot();
  const scanned = await scanFresh(exclude);
  expect([...watched.entries.keys()].sort()).toEqual([...scanned.entries.keys()].sort());
  expect(watched.entries).toEqual(scanned.entries);
  expect(watched.fingerprints).toEqual(scanned.fingerprints);
  return watched;
}

const file = (relative: string): string => path.join(root, relative);

describe('project watcher', () => {
  it('follows created, changed and deleted files', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.writeFile(file('src/new.rs'), 'new\n');
    await fs.writeFile(file('src/main.rs'), 'fn main() { println!("changed"); }\n');
    await fs.rm(file('src/b/two.rs'));
    await fs.chmod(file('src/a/one.rs'), 0o755);
    await expectAgreement(watcher);
  });

  it('follows a renamed folder and edits inside it', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.rename(file('src/a'), file('src/renamed'));
    await fs.writeFile(file('src/renamed/one.rs'), 'edited right after the rename\n');
    await expectAgreement(watcher);
    await fs.writeFile(file('src/renamed/one.rs'), 'edited after a build\n');
    await fs.writeFile(file('src/renamed/three.rs'), 'three\n');
    await expectAgreement(watcher);
  });

  it('follows an atomic save', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.writeFile(file('src/.main.rs.tmp'), 'fn main() { /* saved */ }\n');
    await fs.rename(file('src/.main.rs.tmp'), file('src/main.rs'));
    await expectAgreement(watcher);
  });

  it('follows swapped folders', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.rename(file('src/a'), file('src/swap'));
    await fs.rename(file('src/b'), file('src/a'));
    await fs.rename(file('src/swap'), file('src/b'));
    await expectAgreement(watcher);
    await fs.writeFile(file('src/a/two.rs'), 'edited in the swapped folder\n');
    await fs.writeFile(file('src/b/one.rs'), 'edited in the other one\n');
    await expectAgreement(watcher);
  });

  it('follows a tree removed and created again', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.rm(file('src'), { recursive: true });
    await expectAgreement(watcher);
    await writeFileTree(root, { 'src/main.rs': 'fn main() {}\n', 'src/a/one.rs': 'back\n' });
    await expectAgreement(watcher);
    await fs.writeFile(file('src/a/one.rs'), 'edited in the new tree\n');
    await expectAgreement(watcher);
  });

  it('follows nested folders created in one burst', async () => {
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await writeFileTree(root, { 'deep/a/b/c/d/e.rs': 'e\n', 'deep/a/b/c/f.rs': 'f\n', 'deep/a/g.rs': 'g\n' });
    await expectAgreement(watcher);
    await fs.writeFile(file('deep/a/b/c/d/e.rs'), 'edited deep down\n');
    await fs.writeFile(file('deep/a/b/c/d/later.rs'), 'later\n');
    await expectAgreement(watcher);
  });

  it('applies new and removed ignore files', async () => {
    const watcher = createWatcher();
    await writeFileTree(root, { 'src/a/debug.log': 'log\n', 'notes/keep.md': 'keep\n' });
    await expectAgreement(watcher);
    await fs.writeFile(file('src/.gitignore'), '*.log\n');
    await fs.writeFile(file('.rchignore'), 'notes/\n');
    await expectAgreement(watcher);
    await fs.rm(file('src/.gitignore'));
    await fs.writeFile(file('.rchignore'), '');
    await expectAgreement(watcher);
  });

  it('drops a folder tagged by cargo until the tag goes', async () => {
    const watcher = createWatcher();
    await writeFileTree(root, { 'other-target/debug/x': 'x\n' });
    await expectAgreement(watcher);
    await fs.writeFile(file('other-target/CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
    const tagged = await expectAgreement(watcher);
    expect(tagged.entries.has(file('other-target'))).toBe(false);
    await fs.rm(file('other-target/CACHEDIR.TAG'));
    const untagged = await expectAgreement(watcher);
    expect(untagged.entries.has(file('other-target/debug/x'))).toBe(true);
  });

  it('follows 1,000 files changed at once', async () => {
    const watcher = createWatcher();
    const tree: Record<string, string> = {};
    for (let index = 0; index < 1000; index++) tree[`data/d${index % 20}/f${index}.txt`] = `file ${index}\n`;
    await writeFileTree(root, tree);
    await expectAgreement(watcher);

    const changes: Array<Promise<void>> = [];
    for (let index = 0; index < 1000; index++) {
      const name = file(`data/d${index % 20}/f${index}.txt`);
      if (index % 4 === 0) changes.push(fs.rm(name));
      else if (index % 4 === 1) changes.push(fs.writeFile(name, `changed ${index}\n`));
      else if (index % 4 === 2) changes.push(fs.mkdir(file(`data/n${index}`)).then(() => fs.writeFile(file(`data/n${index}/g.txt`), 'g\n')));
    }
    await Promise.all(changes);
    await expectAgreement(watcher);
  });

  it('reads files behind links out of the roots again', async () => {
    const outside = path.join(scratch, 'outside.rs');
    await fs.writeFile(outside, 'outside\n');
    await fs.symlink(outside, file('src/linked.rs'));
    const watcher = createWatcher();
    await expectAgreement(watcher);
    await fs.writeFile(outside, 'outside, changed to a longer text\n');
    await expectAgreement(watcher);
  });

  it('keeps fingerprints of touched files', async () => {
    const watcher = createWatcher();
    const before = await expectAgreement(watcher);
    const later = new Date(Date.now() + 5_000);
    await fs.utimes(file('src/main.rs'), later, later);
    const after = await expectAgreement(watcher);
    expect(after.fingerprints).toEqual(before.fingerprints);
  });

  it('scans in full after a suspected overflow', async () => {
    const watcher = createWatcher({ overflow: new OverflowMonitor(50) });
    await expectAgreement(watcher);
    // Synchronous writes keep the event loop busy, so their events arrive in one poll phase.
    for (let index = 0; index < 200; index++) writeFileSync(file(`src/a/burst${index}.rs`), `${index}\n`);
    await expectAgreement(watcher);
    expect(await fs.readFile(path.join(scratch, 'rchd.log'), 'utf8')).toContain('may have overflowed');
  });

  it('scans in full when the barrier fails', async () => {
    const blocker = path.join(scratch, 'not-a-folder');
    await fs.writeFile(blocker, '');
    const watcher = createWatcher({ barrierFolder: path.join(blocker, 'barrier') });
    await expectAgreement(watcher);
    await fs.writeFile(file('src/main.rs'), 'fn main() { /* after */ }\n');
    await expectAgreement(watcher);
    expect(await fs.readFile(path.join(scratch, 'rchd.log'), 'utf8')).toContain('barrier did not pass');
  });

  it('rehashes only changed files after a restart', async () => {
    const first = createWatcher();
    await expectAgreement(first);
    await first.close();
    await fs.writeFile(file('src/main.rs'), 'fn main() { /* while stopped */ }\n');
    const indexed = JSON.parse(await fs.readFile(path.join(scratch, 'index.json'), 'utf8')) as { files: Record<string, { hash: string }> };
    expect(Object.keys(indexed.files)).toContain(file('src/a/one.rs'));

    const second = createWatcher();
    await expectAgreement(second);
  });
});
