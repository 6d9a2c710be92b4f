import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture, type Fixture } from '../helpers/fixtures.js';
import { cargoShim, runCargo } from '../helpers/run.js';
import { terminalEnv } from '../../lib/build/terminal-env.js';

let worker: SshdWorker;
let client: ClientHome;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

/** A crate whose build script reports, as cargo warnings, the variables and rustc it sees. */
function createReportingCrate(extra: Record<string, string> = {}): Promise<Fixture> {
  return createFixture({
    '.gitignore': '/target\n',
    'Cargo.toml': '[package]\nname = "report"\nversion = "0.1.0"\nedition = "2021"\n',
    'build.rs': `use std::process::Command;

fn main() {
    for name in ["CARGO_ENCODED_RUSTFLAGS", "RUST_LOG", "MY_EXTRA", "RCH_SECRET", "CARGO_HOME", "NOT_FORWARDED"] {
        println!("cargo:warning={name}=<{}>", std::env::var(name).unwrap_or_default());
    }
    let rustc = std::env::var("RUSTC").unwrap();
    let version = Command::new(rustc).arg("--version").output().unwrap();
    println!("cargo:warning=RUSTC_VERSION=<{}>", String::from_utf8_lossy(&version.stdout).trim());
    println!("cargo:rerun-if-changed=build.rs");
}
`,
    'src/main.rs': 'fn main() {}\n',
    ...extra,
  });
}

/** The value a build-script warning reported for `name`. */
function reported(stderr: string, name: string): string | undefined {
  return new RegExp(`${name}=<([^>]*)>`).exec(stderr)?.[1];
}

describe('remote environment', () => {
  it('forwards only allowed variables', async () => {
    const crate = await createReportingCrate({ 'rch.toml': 'env = ["MY_EXTRA"]\n' });
    const cargoHomeLink = path.join(crate.root, '..', `${path.basename(crate.root)}-cargo-home`);
    await fs.symlink('/root/.cargo', cargoHomeLink);
    const env = {
      ...client.env,
      RUSTFLAGS: '--cfg rch_test',
      RUST_LOG: 'debug',
      MY_EXTRA: 'extra value',
      RCH_SECRET: 'must stay local',
      NOT_FORWARDED: 'local only',
      CARGO_HOME: cargoHomeLink,
    };
    const result = await runCargo(['build'], { cwd: crate.root, env });

    expect(result.exitCode).toBe(0);
    expect(result.stderr).not.toMatch(/^rch:/m);
    expect(reported(result.stderr, 'CARGO_ENCODED_RUSTFLAGS')).toMatch(/^--cfg.?rch_test$/);
    expect(reported(result.stderr, 'RUST_LOG')).toBe('debug');
    expect(reported(result.stderr, 'MY_EXTRA')).toBe('extra value');
    expect(reported(result.stderr, 'RCH_SECRET')).toBe('');
    expect(reported(result.stderr, 'NOT_FORWARDED')).toBe('');
    expect(reported(result.stderr, 'CARGO_HOME')).not.toBe(cargoHomeLink);
    await fs.rm(cargoHomeLink);
  });

  it('uses the toolchain from rust-toolchain.toml', async () => {
    const crate = await createReportingCrate({ 'rust-toolchain.toml': '[toolchain]\nchannel = "nightly"\n' });
    const defaultBefore = await execa('rustup', ['default'], { env: { ...client.env, PATH: '/root/.cargo/bin:/usr/bin:/bin' } });
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(reported(result.stderr, 'RUSTC_VERSION')).toContain('nightly');
    const defaultAfter = await execa('rustup', ['default'], { env: { ...client.env, PATH: '/root/.cargo/bin:/usr/bin:/bin' } });
    expect(defaultAfter.stdout).toBe(defaultBefore.stdout);
  });

  it('uses the toolchain given with +toolchain', async () => {
    const crate = await createReportingCrate();
    const result = await runCargo(['+nightly', 'build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(reported(result.stderr, 'RUSTC_VERSION')).toContain('nightly');
  });
});

describe('remote build on a terminal', () => {
  it('shows colour like a local cargo', async () => {
    const crate = await createReportingCrate();
    // util-linux `script` gives the shim a pseudo-terminal, as an interactive shell would.
    const result = await execa('script', ['-q', '-e', '-c', `${cargoShim} build`, '/dev/null'], {
      cwd: crate.root,
      env: { ...client.env, TERM: 'xterm-256color' },
      extendEnv: false,
      reject: false,
    });

    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain('rch:');
    expect(result.stdout).toMatch(/\u001b\[[0-9;]*m\s*Compiling/);
  });
});

describe('terminalEnv', () => {
  it('asks for colour and progress on a terminal', () => {
    expect(terminalEnv({}, ['build'], { isTTY: true, columns: 120 })).toEqual({
      CARGO_TERM_COLOR: 'always',
      CARGO_TERM_PROGRESS_WHEN: 'always',
      CARGO_TERM_PROGRESS_WIDTH: '120',
    });
  });

  it('gives the progress bar a width on a terminal without columns', () => {
    expect(terminalEnv({}, ['build'], { isTTY: true, columns: 0 })).toMatchObject({
      CARGO_TERM_PROGRESS_WHEN: 'always',
      CARGO_TERM_PROGRESS_WIDTH: '80',
    });
  });

  it('adds nothing when stderr is not a terminal', () => {
    expect(terminalEnv({}, ['build'], { isTTY: false })).toEqual({});
  });

  it('leaves colour to an explicit --color', () => {
    expect(terminalEnv({}, ['build', '--color=never'], { isTTY: true })).not.toHaveProperty('CARGO_TERM_COLOR');
  });
});
