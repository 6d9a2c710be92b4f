import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

const repoRoot = fs.realpathSync(fileURLToPath(new URL('../..', import.meta.url)));
const installScript = path.join(repoRoot, 'install.sh');
const shimPath = path.join(repoRoot, 'shims', 'cargo');
const startMarker = '# >>> rch >>>';

// What rustup writes: ~/.cargo/env adds ~/.cargo/bin to PATH unless it is there already.
const cargoEnvScript = 'case ":${PATH}:" in\n  *:"$HOME/.cargo/bin":*) ;;\n  *) export PATH="$HOME/.cargo/bin:$PATH" ;;\nesac\n';
const bashrcWithoutFinalNewline = '# user settings\n. "$HOME/.cargo/env"\nalias ll="ls -l"';
const zshrcWithBlankLines = 'export EDITOR=vi\n\n\n';

interface FileState {
  content: string;
  mode: number;
}

let home: string;

function findOnPath(name: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(folder || '.', name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

// A clean environment: HOME is the temporary one, and PATH has the fake cargo so no warning is printed.
function shellEnv(): Record<string, string> {
  return { HOME: home, PATH: `${path.join(home, '.cargo', 'bin')}:/usr/bin:/bin` };
}

function runInstall(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(installScript, ['--no-build', ...args], { env: shellEnv(), encoding: 'utf8', timeout: 30_000 });
}

function runUninstall(): SpawnSyncReturns<string> {
  return spawnSync(installScript, ['--uninstall'], { env: shellEnv(), encoding: 'utf8', timeout: 30_000 });
}

// Every regular file under HOME with its bytes and mode, keyed by relative path.
function snapshotFiles(root: string): Map<string, FileState> {
  const files = new Map<string, FileState>();
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile()) continue;
    files.set(path.relative(root, file), { content: fs.readFileSync(file, 'latin1'), mode: fs.statSync(file).mode });
  }
  return files;
}

function countMarkers(file: string): number {
  return fs.readFileSync(file, 'utf8').split(startMarker).length - 1;
}

beforeEach(() => {
  home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rch install-')));
  fs.mkdirSync(path.join(home, '.cargo', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(home, '.cargo', 'env'), cargoEnvScript);
  fs.writeFileSync(path.join(home, '.cargo', 'bin', 'cargo'), '#!/bin/sh\necho "fake cargo: $*"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(home, '.bashrc'), bashrcWithoutFinalNewline);
  fs.writeFileSync(path.join(home, '.zshrc'), zshrcWithBlankLines, { mode: 0o600 });
  fs.mkdirSync(path.join(home, '.config', 'fish'), { recursive: true });
});

afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

describe('install.sh', () => {
  test('adds each block once', () => {
    const result = runInstall();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`Added the rch block to ${home}/.profile\n`);
    expect(result.stdout).toContain(`Added the rch block to ${home}/.bashrc\n`);
    expect(result.stdout).toContain(`Added the rch block to ${home}/.zshrc\n`);
    expect(result.stdout).toContain(`Wrote ${home}/.config/fish/conf.d/rch.fish\n`);
    expect(result.stdout).toContain(`${home}/.config/rch/workers.toml`);
    expect(result.stdout).toContain('workers add');

    for (const name of ['.profile', '.bashrc', '.zshrc', '.config/fish/conf.d/rch.fish']) {
      expect(countMarkers(path.join(home, name)), name).toBe(1);
    }
    expect(fs.readFileSync(path.join(home, '.bashrc'), 'utf8').startsWith(bashrcWithoutFinalNewline)).toBe(true);
    expect(fs.readFileSync(path.join(home, '.bashrc'), 'utf8')).toContain(`'${repoRoot}/shims'`);
    expect(fs.statSync(path.join(home, '.zshrc')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(home, '.bash_profile'))).toBe(false);
  });

  test('second run is a no-op', () => {
    expect(runInstall().status).toBe(0);
    const afterFirst = snapshotFiles(home);
    const mtimes = [...afterFirst.keys()].map((name) => fs.statSync(path.join(home, name)).mtimeMs);

    const second = runInstall();
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('Shell startup files already up to date, nothing changed\n');
    expect(second.stdout).not.toContain('Added');
    expect(second.stdout).not.toContain('Wrote');
    expect(snapshotFiles(home)).toEqual(afterFirst);
    expect([...afterFirst.keys()].map((name) => fs.statSync(path.join(home, name)).mtimeMs)).toEqual(mtimes);
  });

  test('login sh finds shim first', () => {
    expect(runInstall().status).toBe(0);
    const result = spawnSync('sh', ['-lc', 'command -v cargo'], { env: shellEnv(), encoding: 'utf8' });
    expect(result.stdout).toBe(`${shimPath}\n`);
  });

  test('bashrc finds shim, then real cargo', () => {
    expect(runInstall().status).toBe(0);
    const script = '. ~/.bashrc; command -v cargo; cargo metadata --no-deps';
    // A PATH without ~/.cargo/bin, as at login: the rustup line in .bashrc adds it in front.
    const result = spawnSync('bash', ['-c', script], { env: { HOME: home, PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${shimPath}\nfake cargo: metadata --no-deps\n`);
  });

  test.skipIf(findOnPath('zsh') === undefined)('zsh finds shim first', () => {
    expect(runInstall().status).toBe(0);
    const result = spawnSync('zsh', ['-ic', 'command -v cargo'], { env: shellEnv(), encoding: 'utf8' });
    expect(result.stdout).toBe(`${shimPath}\n`);
  });

  test.skipIf(findOnPath('fish') === undefined)('fish keeps shim first', () => {
    expect(runInstall().status).toBe(0);
    // Like rustup.fish, which fish reads after rch.fish: a later prepend must not win.
    const script = 'set -gx PATH $HOME/.cargo/bin $PATH; command -v cargo';
    const result = spawnSync('fish', ['--no-config', '-c', `source ~/.config/fish/conf.d/rch.fish; ${script}`], {
      env: shellEnv(),
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${shimPath}\n`);
  });

  test('uninstall restores files byte for byte', () => {
    const before = snapshotFiles(home);
    expect(runInstall().status).toBe(0);
    expect(runInstall().status).toBe(0);

    const result = runUninstall();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`Deleted ${home}/.profile, which install.sh had created\n`);
    expect(result.stdout).toContain(`Removed the rch block from ${home}/.bashrc\n`);
    expect(result.stdout).toContain(`Removed the rch block from ${home}/.zshrc\n`);
    expect(result.stdout).toContain(`Deleted ${home}/.config/fish/conf.d/rch.fish\n`);
    expect(snapshotFiles(home)).toEqual(before);
  });

  test('uninstall keeps an existing profile', () => {
    fs.writeFileSync(path.join(home, '.profile'), '');
    fs.writeFileSync(path.join(home, '.bash_profile'), 'source ~/.bashrc\n');
    const before = snapshotFiles(home);
    expect(runInstall().status).toBe(0);
    expect(countMarkers(path.join(home, '.bash_profile'))).toBe(1);

    expect(runUninstall().status).toBe(0);
    expect(snapshotFiles(home)).toEqual(before);
  });

  test('second uninstall is a no-op', () => {
    expect(runInstall().status).toBe(0);
    expect(runUninstall().status).toBe(0);
    const result = runUninstall();
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('No rch blocks found, nothing changed\n');
  });

  test('stale block replaced in place', () => {
    expect(runInstall().status).toBe(0);
    const bashrc = path.join(home, '.bashrc');
    const installed = fs.readFileSync(bashrc, 'utf8');
    fs.writeFileSync(bashrc, `${installed.replaceAll(`${repoRoot}/shims`, '/old/checkout/shims')}alias after=1\n`);

    const result = runInstall();
    expect(result.stdout).toContain(`Updated the rch block in ${bashrc}\n`);
    expect(fs.readFileSync(bashrc, 'utf8')).toBe(`${installed}alias after=1\n`);
  });

  test('symlinked bashrc stays a symlink', () => {
    const dotfile = path.join(home, 'dotfiles', 'bashrc');
    fs.mkdirSync(path.dirname(dotfile));
    fs.renameSync(path.join(home, '.bashrc'), dotfile);
    fs.symlinkSync(dotfile, path.join(home, '.bashrc'));

    expect(runInstall().status).toBe(0);
    expect(fs.lstatSync(path.join(home, '.bashrc')).isSymbolicLink()).toBe(true);
    expect(countMarkers(dotfile)).toBe(1);

    expect(runUninstall().status).toBe(0);
    expect(fs.lstatSync(path.join(home, '.bashrc')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(dotfile, 'utf8')).toBe(bashrcWithoutFinalNewline);
  });

  test('partial block rejected', () => {
    fs.appendFileSync(path.join(home, '.zshrc'), `${startMarker}\n`);
    const before = snapshotFiles(home);
    const result = runInstall();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${home}/.zshrc contains '${startMarker}' but no '# <<< rch <<<'`);
    expect(snapshotFiles(home)).toEqual(before);
  });

  test('unknown option rejected', () => {
    const result = runInstall('--frobnicate');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown option --frobnicate');
    expect(fs.existsSync(path.join(home, '.profile'))).toBe(false);
  });

  test('no fish file without fish folder', () => {
    fs.rmSync(path.join(home, '.config', 'fish'), { recursive: true });
    expect(runInstall().status).toBe(0);
    expect(fs.existsSync(path.join(home, '.config', 'fish'))).toBe(false);
  });
});
