import { describe, expect, it } from 'vitest';
import { mapArgsForWorker, parseBuildArgs } from '../../lib/build/cargo-args.js';

describe('parseBuildArgs', () => {
  it('resolves --target-dir against the working directory', () => {
    expect(parseBuildArgs(['build', '--target-dir', 'out'], 0, '/home/u/p').targetDir).toBe('/home/u/p/out');
    expect(parseBuildArgs(['build', '--target-dir=/tmp/t'], 0, '/home/u/p').targetDir).toBe('/tmp/t');
  });

  it('passes toolchain, config and manifest path to metadata', () => {
    const parsed = parseBuildArgs(['+nightly', '--config', 'a=1', 'build', '--manifest-path', 'x/Cargo.toml'], 3, '/p');
    expect(parsed.metadataArgs).toEqual(['+nightly', '--config', 'a=1', '--manifest-path', 'x/Cargo.toml']);
  });

  it('ignores options after --', () => {
    expect(parseBuildArgs(['test', '--', '--target-dir', 'x'], 0, '/p').targetDir).toBeUndefined();
  });
});

describe('mapArgsForWorker', () => {
  it('maps --target-dir and an absolute --manifest-path', () => {
    const mapped = mapArgsForWorker(
      ['build', '--target-dir', 'out', '--manifest-path=/home/u/p/Cargo.toml', '--', '--target-dir', 'x'],
      0,
      '/home/u/p',
      '/srv/base',
    );
    expect(mapped).toEqual([
      'build',
      '--target-dir',
      '/srv/base/home/u/p/out',
      '--manifest-path=/srv/base/home/u/p/Cargo.toml',
      '--',
      '--target-dir',
      'x',
    ]);
  });

  it('keeps a relative --manifest-path', () => {
    expect(mapArgsForWorker(['check', '--manifest-path', 'a/Cargo.toml'], 0, '/p', '/b')).toEqual([
      'check',
      '--manifest-path',
      'a/Cargo.toml',
    ]);
  });
});
