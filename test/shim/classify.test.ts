import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { classifyCargoArgs } from '../../lib/shim/classify.js';

interface ClassifyCase {
  argv: string[];
  route: 'remote' | 'local';
  subcommand: string | null;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const shimSource = path.join(repoRoot, 'shims', 'cargo');
const cases: ClassifyCase[] = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'classify-cases.json'), 'utf8'),
);

// Keeps the host's RCH_* variables and PATH out of the shim, so each test states what it sets.
function runShim(shim: string, argv: string[], env: Record<string, string>, cwd?: string): SpawnSyncReturns<string> {
  return spawnSync(shim, argv, { env, cwd, encoding: 'utf8', timeout: 10_000 });
}

function findOnPath(name: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(folder || '.', name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

describe('classifyCargoArgs', () => {
  test('table has enough cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  test.for(cases)('routes $argv', ({ argv, route, subcommand }) => {
    const invocation = classifyCargoArgs(argv);
    expect(invocation.route).toBe(route);
    expect(invocation.subcommand ?? null).toBe(subcommand);
  });

  test('reads leading toolchain', () => {
    const invocation = classifyCargoArgs(['+nightly', '-v', 'b', '--release']);
    expect(invocation.toolchain).toBe('nightly');
    expect(invocation.subcommandIndex).toBe(2);
    expect(invocation.subcommand).toBe('build');
  });

  test('ignores toolchain after first argument', () => {
    const invocation = classifyCargoArgs(['build', '+nightly']);
    expect(invocation.toolchain).toBeUndefined();
    expect(invocation.subcommandIndex).toBe(0);
  });

  test('points nextest index at nextest word', () => {
    const invocation = classifyCargoArgs(['--locked', 'nextest', '--no-capture', 'run']);
    expect(invocation.subcommand).toBe('nextest run');
    expect(invocation.subcommandIndex).toBe(1);
  });

  test('skips option values before subcommand', () => {
    expect(classifyCargoArgs(['--config', 'x=1', '-C', 'dir', 'check']).subcommandIndex).toBe(4);
  });

  test('returns -1 without subcommand', () => {
    const invocation = classifyCargoArgs(['+beta', '--version']);
    expect(invocation.subcommandIndex).toBe(-1);
    expect(invocation.subcommand).toBeUndefined();
    expect(invocation.toolchain).toBe('beta');
  });
});

describe('shim classification', () => {
  const env = { PATH: '/nonexistent', RCH_SHIM_CLASSIFY_ONLY: '1' };

  test.for(cases)('routes $argv', ({ argv, route }) => {
    const result = runShim(shimSource, argv, env);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${route}\n`);
  });

  // The shebang picks /bin/sh, which differs between systems, so run the table under each shell present.
  for (const shell of ['dash', 'bash', 'busybox']) {
    const shellPath = findOnPath(shell);
    test.skipIf(shellPath === undefined)(`matches table under ${shell}`, () => {
      const prefix = shell === 'busybox' ? ['sh'] : [];
      const mismatches: string[] = [];
      for (const { argv, route } of cases) {
        const result = spawnSync(shellPath as string, [...prefix, shimSource, ...argv], { env, encoding: 'utf8' });
        if (result.stdout !== `${route}\n`) mismatches.push(`${JSON.stringify(argv)}: ${result.stdout}${result.stderr}`);
      }
      expect(mismatches).toEqual([]);
    });
  }

  test('reports local when disabled', () => {
    const result = runShim(shimSource, ['build'], { ...env, RCH_DISABLE: '1' });
    expect(result.stdout).toBe('local\n');
  });

  test('passes sh -n under dash', () => {
    const dash = findOnPath('dash');
    if (dash === undefined) return;
    const result = spawnSync(dash, ['-n', shimSource], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('shim processes', () => {
  // Layout: <tmp>/rch is a fake checkout (shims/cargo, dist/cli/main.js, bin/rch), <tmp>/real-bin
  // has the fake real cargo, <tmp>/node-bin a fake node, and the rest are PATH variations.
  let tmp: string;
  let rchRoot: string;
  let shim: string;
  let shimFolder: string;
  let realBin: string;
  let fakeCargo: string;
  let fakeNode: string;
  let toolsBin: string;
  let cargoRecord: string;
  let nodeRecord: string;
  let nodeMarker: string;

  const argvWithSpecials = ['--color=never', 'has space', 'line1\nline2', '$(touch pwned)', '*', '', '--'];

  function writeScript(file: string, body: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `#!/bin/sh\n${body}`, { mode: 0o755 });
  }

  function readRecord(file: string): string[] {
    const fields = fs.readFileSync(file, 'utf8').split('\0');
    fields.pop();
    return fields;
  }

  function baseEnv(pathFolders: string[], extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: pathFolders.join(':'),
      RCH_TEST_CARGO_RECORD: cargoRecord,
      RCH_TEST_NODE_RECORD: nodeRecord,
      RCH_TEST_NODE_MARKER: nodeMarker,
      ...extra,
    };
  }

  beforeAll(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rch-shim-')));
    rchRoot = path.join(tmp, 'rch');
    shimFolder = path.join(rchRoot, 'shims');
    shim = path.join(shimFolder, 'cargo');
    fs.mkdirSync(shimFolder, { recursive: true });
    fs.copyFileSync(shimSource, shim);
    fs.chmodSync(shim, 0o755);
    fs.mkdirSync(path.join(rchRoot, 'dist', 'cli'), { recursive: true });
    fs.writeFileSync(path.join(rchRoot, 'dist', 'cli', 'main.js'), '');
    writeScript(path.join(rchRoot, 'bin', 'rch'), 'exit 99\n');

    cargoRecord = path.join(tmp, 'cargo-record');
    nodeRecord = path.join(tmp, 'node-record');
    nodeMarker = path.join(tmp, 'node-started');

    realBin = path.join(tmp, 'real-bin');
    fakeCargo = path.join(realBin, 'cargo');
    writeScript(fakeCargo, `printf '%s\\000' "$0" "$@" > "$RCH_TEST_CARGO_RECORD"\nexit 3\n`);

    fakeNode = path.join(tmp, 'node-bin', 'node');
    writeScript(
      fakeNode,
      [
        ': > "$RCH_TEST_NODE_MARKER"',
        `printf '%s\\000' "$0" "$@" > "$RCH_TEST_NODE_RECORD"`,
        `printf '%s' "$RCH_REAL_CARGO" > "$RCH_TEST_NODE_RECORD.real-cargo"`,
        'exit 4',
        '',
      ].join('\n'),
    );

    // The remote route resolves the shim's path with readlink, so it gets readlink and nothing else.
    toolsBin = path.join(tmp, 'tools-bin');
    fs.mkdirSync(toolsBin);
    const readlink = findOnPath('readlink');
    if (readlink === undefined) throw new Error('test setup: readlink not found on PATH');
    fs.symlinkSync(readlink, path.join(toolsBin, 'readlink'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function clearRecords(): void {
    for (const file of [cargoRecord, nodeRecord, `${nodeRecord}.real-cargo`, nodeMarker]) fs.rmSync(file, { force: true });
  }

  test('disabled shim execs cargo verbatim', () => {
    clearRecords();
    const argv = ['build', ...argvWithSpecials];
    const result = runShim(shim, argv, baseEnv([shimFolder, path.dirname(fakeNode), realBin], { RCH_DISABLE: '1', RCH_NODE: fakeNode }));
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, ...argv]);
    expect(fs.existsSync(nodeMarker)).toBe(false);
  });

  test('local subcommand skips node', () => {
    clearRecords();
    const argv = ['+nightly', 'metadata', '--no-deps', ...argvWithSpecials];
    // node is both on PATH and in RCH_NODE, so either way of starting it would leave the marker.
    const result = runShim(shim, argv, baseEnv([shimFolder, path.dirname(fakeNode), realBin], { RCH_NODE: fakeNode }));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, ...argv]);
    expect(fs.existsSync(nodeMarker)).toBe(false);
  });

  test('duplicate PATH entries and symlinks skipped', () => {
    clearRecords();
    const linkBin = path.join(tmp, 'link-bin');
    fs.mkdirSync(linkBin);
    fs.symlinkSync(shim, path.join(linkBin, 'cargo'));
    const linkedShimFolder = path.join(tmp, 'linked-shims');
    fs.symlinkSync(shimFolder, linkedShimFolder);

    const pathFolders = [linkBin, shimFolder, shimFolder, linkedShimFolder, '', realBin];
    const result = runShim(path.join(linkBin, 'cargo'), ['metadata'], baseEnv(pathFolders));
    expect(result.error).toBeUndefined();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, 'metadata']);
  });

  test('missing real cargo exits 127', () => {
    const emptyBin = path.join(tmp, 'empty-bin');
    fs.mkdirSync(emptyBin, { recursive: true });
    const pathValue = [shimFolder, shimFolder, emptyBin].join(':');
    const result = runShim(shim, ['build'], baseEnv([pathValue]));
    expect(result.status).toBe(127);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`rch: no real cargo found on PATH (PATH=${pathValue})\n`);
    expect(result.stderr).toContain('RCH_REAL_CARGO');
  });

  test('RCH_REAL_CARGO pointing at shim rejected', () => {
    const result = runShim(shim, ['metadata'], baseEnv([shimFolder, realBin], { RCH_REAL_CARGO: shim }));
    expect(result.status).toBe(127);
    expect(result.stderr).toContain(`RCH_REAL_CARGO=${shim} is this shim`);
  });

  test('RCH_REAL_CARGO not executable rejected', () => {
    const missing = path.join(tmp, 'no-such-cargo');
    const result = runShim(shim, ['metadata'], baseEnv([shimFolder, realBin], { RCH_REAL_CARGO: missing }));
    expect(result.status).toBe(127);
    expect(result.stderr).toContain(`RCH_REAL_CARGO=${missing} is not an executable file`);
  });

  test('RCH_REAL_CARGO overrides PATH', () => {
    clearRecords();
    const otherCargo = path.join(tmp, 'other-bin', 'cargo');
    writeScript(otherCargo, `printf '%s\\000' "$0" "$@" > "$RCH_TEST_CARGO_RECORD"\n`);
    const result = runShim(shim, ['tree'], baseEnv([shimFolder, realBin], { RCH_REAL_CARGO: otherCargo }));
    expect(result.status).toBe(0);
    expect(readRecord(cargoRecord)).toEqual([otherCargo, 'tree']);
  });

  test('copied shim stops exec loop', () => {
    const copyBin = path.join(tmp, 'copy-bin');
    fs.mkdirSync(copyBin);
    fs.copyFileSync(shim, path.join(copyBin, 'cargo'));
    fs.chmodSync(path.join(copyBin, 'cargo'), 0o755);
    const result = runShim(path.join(copyBin, 'cargo'), ['metadata'], baseEnv([copyBin, shimFolder, realBin]));
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(127);
    expect(result.stderr).toContain('was started more than 8 times in one process');
  });

  test('nested cargo calls not counted as loop', () => {
    clearRecords();
    // Like a build script running cargo: each level is a child process that calls the shim again.
    const nestingCargo = path.join(tmp, 'nesting-bin', 'cargo');
    writeScript(
      nestingCargo,
      [
        'depth=${RCH_TEST_DEPTH:-0}',
        'if [ "$depth" -lt 12 ]; then',
        `  RCH_TEST_DEPTH=$((depth + 1)) "${shim}" metadata`,
        '  exit $?',
        'fi',
        `printf '%s\\000' "$depth" > "$RCH_TEST_CARGO_RECORD"`,
        '',
      ].join('\n'),
    );
    const result = runShim(shim, ['metadata'], baseEnv([shimFolder, path.dirname(nestingCargo)]));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readRecord(cargoRecord)).toEqual(['12']);
  });

  test('remote route execs node with rch', () => {
    clearRecords();
    const argv = ['+nightly', '-vv', 'b', '--release', ...argvWithSpecials];
    const result = runShim(shim, argv, baseEnv([shimFolder, toolsBin, realBin], { RCH_NODE: fakeNode }));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(4);
    expect(readRecord(nodeRecord)).toEqual([fakeNode, path.join(rchRoot, 'bin', 'rch'), '__cargo', ...argv]);
    expect(fs.readFileSync(`${nodeRecord}.real-cargo`, 'utf8')).toBe(fakeCargo);
    expect(fs.existsSync(cargoRecord)).toBe(false);
  });

  test('remote route passes absolute real cargo', () => {
    clearRecords();
    const result = runShim(shim, ['build'], baseEnv([shimFolder, toolsBin, 'real-bin'], { RCH_NODE: fakeNode }), tmp);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(4);
    expect(fs.readFileSync(`${nodeRecord}.real-cargo`, 'utf8')).toBe(path.join(tmp, 'real-bin', 'cargo'));
  });

  test('remote route through symlink finds checkout', () => {
    clearRecords();
    const elsewhere = path.join(tmp, 'elsewhere-bin');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(shim, path.join(elsewhere, 'cargo'));
    const result = runShim(path.join(elsewhere, 'cargo'), ['check'], baseEnv([elsewhere, toolsBin, path.dirname(fakeNode), realBin]));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(4);
    expect(readRecord(nodeRecord)).toEqual([fakeNode, path.join(rchRoot, 'bin', 'rch'), '__cargo', 'check']);
  });

  test('remote route without node builds locally', () => {
    clearRecords();
    const result = runShim(shim, ['build'], baseEnv([shimFolder, toolsBin, realBin]));
    expect(result.stderr).toBe('rch: node not found on PATH, install Node.js 20 or set RCH_NODE; building locally\n');
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, 'build']);
  });

  test('remote route with bad RCH_NODE builds locally', () => {
    clearRecords();
    const missing = path.join(tmp, 'no-such-node');
    const result = runShim(shim, ['test'], baseEnv([shimFolder, toolsBin, realBin], { RCH_NODE: missing }));
    expect(result.stderr).toBe(`rch: node at ${missing} is not an executable file, fix RCH_NODE or PATH; building locally\n`);
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, 'test']);
  });

  test('remote route without build output builds locally', () => {
    clearRecords();
    const bareRoot = path.join(tmp, 'bare-rch');
    fs.mkdirSync(path.join(bareRoot, 'shims'), { recursive: true });
    fs.copyFileSync(shim, path.join(bareRoot, 'shims', 'cargo'));
    fs.chmodSync(path.join(bareRoot, 'shims', 'cargo'), 0o755);
    const result = runShim(path.join(bareRoot, 'shims', 'cargo'), ['clippy'], baseEnv([toolsBin, realBin], { RCH_NODE: fakeNode }));
    const mainJs = path.join(bareRoot, 'dist', 'cli', 'main.js');
    expect(result.stderr).toBe(`rch: ${mainJs} not found, run 'npm run build' in ${bareRoot}; building locally\n`);
    expect(result.status).toBe(3);
    expect(readRecord(cargoRecord)).toEqual([fakeCargo, 'clippy']);
    expect(fs.existsSync(nodeMarker)).toBe(false);
  });
});
