import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RchPaths } from '../../lib/config/paths.js';
import { resolveSshTarget } from '../../lib/config/ssh-config.js';
import type { WorkerConfig } from '../../lib/config/types.js';
import { RchError } from '../../lib/errors.js';

let root: string;
let paths: RchPaths;
let sshDir: string;

function makeWorker(fields: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    id: 'w1',
    host: 'builder',
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
    ...fields,
  };
}

async function writeSshConfig(text: string): Promise<void> {
  await fs.writeFile(path.join(sshDir, 'config'), text);
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-ssh-config-'));
  paths = {
    config: path.join(root, 'config', 'rch'),
    state: path.join(root, 'state'),
    cache: path.join(root, 'cache'),
    home: path.join(root, 'home'),
  };
  sshDir = path.join(paths.home, '.ssh');
  await fs.mkdir(sshDir, { recursive: true });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('resolveSshTarget', () => {
  it('resolves an alias with HostName, User, Port and IdentityFile', async () => {
    await writeSshConfig(`
Host other
  HostName 10.0.0.9

Host builder
  HostName 127.0.0.1
  User builduser
  Port 2222
  IdentityFile ~/.ssh/id_build
  IdentityFile %d/.ssh/id_%r_%h

Host *
  User fallback
  Port 22
`);
    const target = await resolveSshTarget(makeWorker(), paths, {});
    expect(target.hostname).toBe('127.0.0.1');
    expect(target.user).toBe('builduser');
    expect(target.port).toBe(2222);
    expect(target.identityFiles).toEqual([
      path.join(sshDir, 'id_build'),
      path.join(sshDir, 'id_builduser_127.0.0.1'),
    ]);
    expect(target.identityExplicit).toBe(true);
  });

  it('prefers workers.toml fields over the ssh config', async () => {
    await writeSshConfig('Host builder\n  HostName 127.0.0.1\n  User builduser\n  Port 2222\n  IdentityFile ~/.ssh/id_build\n');
    const worker = makeWorker({ user: 'me', port: 2200, identityFile: '/keys/id' });
    const target = await resolveSshTarget(worker, paths, {});
    expect(target.hostname).toBe('127.0.0.1');
    expect(target.user).toBe('me');
    expect(target.port).toBe(2200);
    expect(target.identityFiles).toEqual(['/keys/id']);
  });

  it('uses defaults without an ssh config', async () => {
    await fs.writeFile(path.join(sshDir, 'id_rsa'), 'not read here');
    const target = await resolveSshTarget(makeWorker({ host: 'Build.Example.com' }), paths, {});
    expect(target.hostname).toBe('build.example.com');
    expect(target.user).toBe(os.userInfo().username);
    expect(target.port).toBe(22);
    expect(target.identityFiles).toEqual([path.join(sshDir, 'id_rsa')]);
    expect(target.identityExplicit).toBe(false);
    expect(target.knownHostsFiles).toEqual([
      path.join(paths.config, 'known_hosts'),
      path.join(sshDir, 'known_hosts'),
      path.join(sshDir, 'known_hosts2'),
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ]);
    expect(target.hostKeyAlias).toBeUndefined();
    expect(target.connectTimeoutMs).toBe(10_000);
  });

  it('reads UserKnownHostsFile, HostKeyAlias and ConnectTimeout', async () => {
    await writeSshConfig(
      'Host builder\n  UserKnownHostsFile ~/.ssh/hosts_a %d/hosts_b\n  HostKeyAlias build-alias\n  ConnectTimeout 3\n',
    );
    const target = await resolveSshTarget(makeWorker(), paths, {});
    expect(target.knownHostsFiles).toEqual([
      path.join(paths.config, 'known_hosts'),
      path.join(sshDir, 'hosts_a'),
      path.join(paths.home, 'hosts_b'),
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ]);
    expect(target.hostKeyAlias).toBe('build-alias');
    expect(target.connectTimeoutMs).toBe(3000);
  });

  it('matches Host patterns case-insensitively', async () => {
    await writeSshConfig('Host Build-Box\n  HostName 10.0.0.5\n');
    expect((await resolveSshTarget(makeWorker({ host: 'build-box' }), paths, {})).hostname).toBe('10.0.0.5');
    expect((await resolveSshTarget(makeWorker({ host: 'BUILD-BOX' }), paths, {})).hostname).toBe('10.0.0.5');
  });

  it('expands %h in HostName', async () => {
    await writeSshConfig('Host builder\n  HostName %h.example.com\n');
    expect((await resolveSshTarget(makeWorker(), paths, {})).hostname).toBe('builder.example.com');
  });

  it('follows Include with a wildcard', async () => {
    await fs.mkdir(path.join(sshDir, 'config.d'));
    await fs.writeFile(path.join(sshDir, 'config.d', 'work'), 'Host builder\n  HostName 10.1.2.3\n  Port 2022\n');
    await fs.writeFile(path.join(sshDir, 'config.d', '.hidden'), 'Host builder\n  HostName 10.9.9.9\n');
    await writeSshConfig('Include config.d/*\n');
    const target = await resolveSshTarget(makeWorker(), paths, {});
    expect(target.hostname).toBe('10.1.2.3');
    expect(target.port).toBe(2022);
  });

  it('rejects an Include loop', async () => {
    await writeSshConfig('Include config\n');
    const error = await resolveSshTarget(makeWorker(), paths, {}).catch((caught: unknown) => caught);
    expect((error as RchError).code).toBe('RCH_CONFIG_INVALID');
    expect((error as RchError).message).toContain('nest more than 16 deep');
  });

  it('rejects an invalid Port with the file and value', async () => {
    await writeSshConfig('Host builder\n  Port twenty\n');
    const error = await resolveSshTarget(makeWorker(), paths, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RchError);
    expect((error as RchError).code).toBe('RCH_CONFIG_INVALID');
    expect((error as RchError).message).toContain(path.join(sshDir, 'config'));
    expect((error as RchError).message).toContain('"twenty"');
  });

  it('rejects an unsupported token', async () => {
    await writeSshConfig('Host builder\n  IdentityFile ~/.ssh/%C\n');
    const error = await resolveSshTarget(makeWorker(), paths, {}).catch((caught: unknown) => caught);
    expect((error as RchError).code).toBe('RCH_CONFIG_INVALID');
    expect((error as RchError).message).toContain('"%C"');
  });
});
