import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RchPaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { RchError } from '../../lib/errors.js';

let root: string;
let paths: RchPaths;
let file: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-workers-'));
  paths = {
    config: path.join(root, 'config', 'rch'),
    state: path.join(root, 'state'),
    cache: path.join(root, 'cache'),
    home: path.join(root, 'home'),
  };
  file = path.join(paths.config, 'workers.toml');
  await fs.mkdir(paths.config, { recursive: true });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function loadText(text: string) {
  await fs.writeFile(file, text);
  return loadWorkers(paths, {});
}

async function loadError(text: string): Promise<RchError> {
  const error = await loadText(text).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RchError);
  return error as RchError;
}

describe('loadWorkers', () => {
  it('returns no workers without a file', async () => {
    expect(await loadWorkers(paths, {})).toEqual([]);
  });

  it('reads every field', async () => {
    const workers = await loadText(`
[[workers]]
id = "big-box.1"
host = "build.example.com"
user = "builder"
port = 2222
identity_file = "~/.ssh/id_build"
total_slots = 32
priority = 50
enabled = false
tags = ["x86_64", "fast"]
remote_base = "/srv/rch//cache/"
gc_max_gib = 1.5
gc_max_age_days = 7
`);
    expect(workers).toEqual([
      {
        id: 'big-box.1',
        host: 'build.example.com',
        user: 'builder',
        port: 2222,
        identityFile: path.join(paths.home, '.ssh', 'id_build'),
        totalSlots: 32,
        priority: 50,
        enabled: false,
        tags: ['x86_64', 'fast'],
        remoteBase: '/srv/rch/cache',
        gcMaxBytes: 1.5 * 1024 ** 3,
        gcMaxAgeDays: 7,
      },
    ]);
  });

  it('applies defaults', async () => {
    const [worker] = await loadText('[[workers]]\nid = "a"\nhost = "a.example.com"\n');
    expect(worker).toEqual({
      id: 'a',
      host: 'a.example.com',
      user: undefined,
      port: undefined,
      identityFile: undefined,
      totalSlots: 8,
      priority: 100,
      enabled: true,
      tags: [],
      remoteBase: '~/.cache/rch-worker',
      gcMaxBytes: 50 * 1024 ** 3,
      gcMaxAgeDays: 30,
    });
  });

  it('normalises a home-relative remote_base', async () => {
    const [worker] = await loadText('[[workers]]\nid = "a"\nhost = "h"\nremote_base = "~/rch/"\n');
    expect(worker!.remoteBase).toBe('~/rch');
  });

  const invalidCases: Array<{ field: string; line: string; shown: string; expected: string }> = [
    { field: 'id', line: 'id = "bad id"', shown: '"bad id"', expected: 'letters, digits' },
    { field: 'host', line: 'host = 42', shown: '42', expected: 'host name' },
    { field: 'host', line: 'host = "-oProxyCommand=x"', shown: '"-oProxyCommand=x"', expected: 'does not start with "-"' },
    { field: 'user', line: 'user = "a b"', shown: '"a b"', expected: 'user name' },
    { field: 'port', line: 'port = 0', shown: '0', expected: '1 to 65535' },
    { field: 'port', line: 'port = 70000', shown: '70000', expected: '1 to 65535' },
    { field: 'port', line: 'port = "22"', shown: '"22"', expected: '1 to 65535' },
    { field: 'identity_file', line: 'identity_file = "keys/id"', shown: '"keys/id"', expected: 'absolute path' },
    { field: 'total_slots', line: 'total_slots = 0', shown: '0', expected: 'positive integer' },
    { field: 'total_slots', line: 'total_slots = 2.5', shown: '2.5', expected: 'positive integer' },
    { field: 'priority', line: 'priority = 1.5', shown: '1.5', expected: 'an integer' },
    { field: 'enabled', line: 'enabled = "yes"', shown: '"yes"', expected: 'true or false' },
    { field: 'tags', line: 'tags = "gpu"', shown: '"gpu"', expected: 'array of non-empty strings' },
    { field: 'tags', line: 'tags = [1]', shown: '[1]', expected: 'array of non-empty strings' },
    { field: 'remote_base', line: 'remote_base = "rch"', shown: '"rch"', expected: 'absolute path' },
    { field: 'remote_base', line: 'remote_base = "/srv/../etc"', shown: '"/srv/../etc"', expected: 'without ".."' },
    { field: 'remote_base', line: 'remote_base = "/"', shown: '"/"', expected: 'other than "/"' },
  ];

  for (const { field, line, shown, expected } of invalidCases) {
    it(`rejects ${line}`, async () => {
      const base = field === 'id' ? { host: 'host = "h"' } : { id: 'id = "w1"', host: 'host = "h"' };
      const lines = Object.entries(base)
        .filter(([name]) => name !== field)
        .map(([, text]) => text);
      const error = await loadError(`[[workers]]\n${[...lines, line].join('\n')}\n`);
      expect(error.code).toBe('RCH_CONFIG_INVALID');
      expect(error.message).toContain(file);
      expect(error.message).toContain('entry 1');
      expect(error.message).toContain(`field "${field}"`);
      expect(error.message).toContain(`is ${shown}`);
      expect(error.message).toContain(expected);
      expect(error.hint).toBe(`edit ${file}`);
    });
  }

  it('names the worker id of an invalid entry', async () => {
    const error = await loadError('[[workers]]\nid = "a"\nhost = "h"\n[[workers]]\nid = "b"\nhost = "h"\nport = -1\n');
    expect(error.message).toContain('entry 2 (id "b")');
  });

  it('rejects a missing host', async () => {
    const error = await loadError('[[workers]]\nid = "a"\n');
    expect(error.message).toContain('field "host" is missing');
  });

  it('rejects duplicate ids', async () => {
    const error = await loadError('[[workers]]\nid = "a"\nhost = "h1"\n[[workers]]\nid = "a"\nhost = "h2"\n');
    expect(error.code).toBe('RCH_CONFIG_INVALID');
    expect(error.message).toContain('entry 2 (id "a")');
    expect(error.message).toContain('already used by entry 1');
  });

  it('suggests the closest name for an unknown field', async () => {
    const error = await loadError('[[workers]]\nid = "a"\nhost = "h"\nprot = 22\n');
    expect(error.message).toContain('unknown field "prot"');
    expect(error.message).toContain('did you mean "port"?');
  });

  it('suggests "workers" for a misspelt table', async () => {
    const error = await loadError('[[worker]]\nid = "a"\nhost = "h"\n');
    expect(error.message).toContain('did you mean "workers"?');
  });

  it('rejects workers that are not tables', async () => {
    const error = await loadError('workers = ["a"]\n');
    expect(error.message).toContain('entry 1 is "a", expected a table');
  });

  it('reports TOML syntax errors with line and column', async () => {
    const error = await loadError('[[workers]]\nid = "a"\nhost = "h\n');
    expect(error.code).toBe('RCH_CONFIG_INVALID');
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: invalid TOML`));
    expect(error.hint).toContain(file);
  });
});
