import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWorkersCommand } from '../../lib/cli/workers-command.js';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { RchError } from '../../lib/errors.js';
import { connectWorker } from '../../lib/ssh/connection.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

let worker: SshdWorker;
let hostKeyFingerprint: string;

class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

async function runCommand(home: ClientHome, args: string[]) {
  const stdout = new TextSink();
  const stderr = new TextSink();
  const outcome = await runWorkersCommand(args, { paths: resolvePaths(home.env), env: home.env, stdout, stderr }).then(
    (exitCode) => ({ exitCode, error: undefined }),
    (error: unknown) => ({ exitCode: undefined, error }),
  );
  return { ...outcome, stdout: stdout.text, stderr: stderr.text };
}

function rchKnownHosts(home: ClientHome): string {
  return path.join(resolvePaths(home.env).config, 'known_hosts');
}

beforeAll(async () => {
  worker = await startWorkerSshd();
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: worker.hostKeyPublic });
  hostKeyFingerprint = stdout.split(' ')[1]!;
});

afterAll(async () => {
  await worker?.stop();
});

describe('rch workers trust', () => {
  it('stores the key so that connecting succeeds', async () => {
    const home = await createClientHome([worker], { trust: false });
    const trusted = await runCommand(home, ['trust', worker.workerId]);
    expect(trusted.error).toBeUndefined();
    expect(trusted.exitCode).toBe(0);
    expect(trusted.stdout).toContain(`ssh-ed25519 ${hostKeyFingerprint}`);

    const [keyType, keyData] = worker.hostKeyPublic.split(' ');
    expect(await fs.readFile(rchKnownHosts(home), 'utf8')).toBe(`[127.0.0.1]:${worker.port} ${keyType} ${keyData}\n`);
    await expect(fs.access(home.knownHostsFile)).rejects.toThrow();

    const paths = resolvePaths(home.env);
    const [config] = await loadWorkers(paths, home.env);
    const connection = await connectWorker(config!, { paths, env: home.env });
    expect((await connection.capture('echo trusted')).stdout.toString()).toBe('trusted\n');
    connection.close();
  });

  it('changes nothing for a key that is already trusted', async () => {
    const home = await createClientHome([worker], { trust: false });
    await runCommand(home, ['trust', worker.workerId]);
    const before = await fs.readFile(rchKnownHosts(home), 'utf8');
    const again = await runCommand(home, ['trust', worker.workerId]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('already trusted');
    expect(again.stdout).toContain(hostKeyFingerprint);
    expect(await fs.readFile(rchKnownHosts(home), 'utf8')).toBe(before);
  });

  it('rejects a changed key', async () => {
    const home = await createClientHome([worker], { trust: false });
    const otherKey = path.join(home.home, 'other_host_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const [keyType, keyData] = (await fs.readFile(`${otherKey}.pub`, 'utf8')).split(' ');
    await fs.writeFile(home.knownHostsFile, `[127.0.0.1]:${worker.port} ${keyType} ${keyData}\n`);

    const rejected = await runCommand(home, ['trust', worker.workerId]);
    expect(rejected.error).toBeInstanceOf(RchError);
    expect((rejected.error as RchError).code).toBe('RCH_SSH_HOST_KEY_CHANGED');
    expect((rejected.error as RchError).message).toContain(`${home.knownHostsFile} line 1`);
    expect((rejected.error as RchError).hint).toContain(`ssh-keygen -R '[127.0.0.1]:${worker.port}'`);
    await expect(fs.access(rchKnownHosts(home))).rejects.toThrow();
  });

  it('stores the key when only the login fails', async () => {
    const home = await createClientHome([worker], { trust: false });
    const wrongKey = path.join(home.home, '.ssh', 'id_wrong');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    await fs.writeFile(home.workersToml, (await fs.readFile(home.workersToml, 'utf8')).replace(home.identityFile, wrongKey));

    const result = await runCommand(home, ['trust', worker.workerId]);
    expect((result.error as RchError).code).toBe('RCH_SSH_AUTH');
    expect(result.stdout).toContain(`added it to ${rchKnownHosts(home)}`);
    expect(await fs.readFile(rchKnownHosts(home), 'utf8')).toContain(`[127.0.0.1]:${worker.port} ssh-ed25519 `);
  });

  it('rejects an unknown worker id', async () => {
    const home = await createClientHome([worker], { trust: false });
    const result = await runCommand(home, ['trust', 'nope']);
    expect((result.error as RchError).code).toBe('RCH_WORKER_UNKNOWN');
    expect((result.error as RchError).message).toContain(worker.workerId);
  });
});

describe('rch workers list', () => {
  it('prints a table', async () => {
    const home = await createClientHome([worker]);
    const result = await runCommand(home, ['list']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^ID\s+ENDPOINT\s+SLOTS\s+PRIORITY\s+ENABLED\s+TAGS\n/);
    expect(result.stdout).toContain(`${worker.workerId}  root@127.0.0.1:${worker.port}`);
  });

  it('prints JSON with --json', async () => {
    const home = await createClientHome([worker]);
    const result = await runCommand(home, ['list', '--json']);
    const entries = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      id: worker.workerId,
      totalSlots: 4,
      endpoint: { user: 'root', hostname: '127.0.0.1', port: worker.port },
    });
  });

  it('names workers.toml when no worker exists', async () => {
    const home = await createClientHome([worker]);
    await fs.rm(home.workersToml);
    const result = await runCommand(home, ['list']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(home.workersToml);
  });
});

describe('rch workers usage', () => {
  it('exits 2 for an unknown subcommand', async () => {
    const home = await createClientHome([worker]);
    const result = await runCommand(home, ['frobnicate']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('unknown subcommand "frobnicate"');
    expect(result.stderr).toContain('list [--json]');
    expect(result.stderr).toContain('trust ID');
  });

  it('exits 2 when trust has no id', async () => {
    const home = await createClientHome([worker]);
    const result = await runCommand(home, ['trust']);
    expect(result.exitCode).toBe(2);
  });
});
