import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import type { WorkerConfig } from '../../lib/config/types.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { RchError } from '../../lib/errors.js';
import { connectWorker, type SshConnection } from '../../lib/ssh/connection.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

let worker: SshdWorker;
let client: ClientHome;
let connection: SshConnection;
let hostKeyFingerprint: string;

async function loadOnlyWorker(home: ClientHome): Promise<WorkerConfig> {
  const [config] = await loadWorkers(resolvePaths(home.env), home.env);
  return config!;
}

async function connectHome(home: ClientHome): Promise<SshConnection> {
  return connectWorker(await loadOnlyWorker(home), { paths: resolvePaths(home.env), env: home.env });
}

async function connectError(home: ClientHome): Promise<RchError> {
  const error = await connectHome(home).then(
    (opened) => {
      opened.close();
      return undefined;
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(RchError);
  return error as RchError;
}

async function generateKey(file: string, passphrase = ''): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'rch-test-other', '-f', file]);
  return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
}

async function findClosedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
  connection = await connectHome(client);
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: worker.hostKeyPublic });
  hostKeyFingerprint = stdout.split(' ')[1]!;
});

afterAll(() => {
  connection?.close();
});

describe('exec', () => {
  it('returns stdout of a command', async () => {
    const result = await connection.capture('echo hello from $(whoami)');
    expect(result.stdout.toString()).toBe('hello from root\n');
    expect(result.exitCode).toBe(0);
    expect(result.exitSignal).toBeNull();
  });

  it('round-trips 5 MB through stdin', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const result = await connection.capture('cat', data);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBe(data.length);
    expect(result.stdout.equals(data)).toBe(true);
  });

  it('pipes a readable stream into stdin', async () => {
    const chunks: Buffer[] = [];
    const result = await connection.exec('wc -c', {
      stdin: Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(24, 2)]),
      stdout: (chunk) => chunks.push(chunk),
    });
    expect(result.exitCode).toBe(0);
    expect(Buffer.concat(chunks).toString().trim()).toBe('1024');
  });

  it('preserves exit code 7', async () => {
    const result = await connection.capture('exit 7');
    expect(result.exitCode).toBe(7);
    expect(result.exitSignal).toBeNull();
  });

  it('reports the signal that killed the command', async () => {
    const result = await connection.capture('kill -TERM $$');
    expect(result.exitCode).toBeNull();
    expect(result.exitSignal).toBe('SIGTERM');
  });

  it('keeps stdout and stderr apart', async () => {
    const result = await connection.capture('echo out; echo err >&2; echo out2');
    expect(result.stdout.toString()).toBe('out\nout2\n');
    expect(result.stderr).toBe('err\n');
  });

  it('delivers output before the command ends', async () => {
    let firstChunkAt = 0;
    const started = Date.now();
    await connection.exec('echo first; sleep 1; echo second', {
      stdout: () => {
        firstChunkAt ||= Date.now();
      },
    });
    const endedAt = Date.now();
    expect(firstChunkAt - started).toBeLessThan(endedAt - started - 500);
  });

  it('interrupts the command on abort', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = connection.exec('sleep 30', { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(10_000);
    // sshd logs the signal request. For root it rejects it ("requires privilege separation").
    await expect.poll(() => worker.log()).toContain('session_signal_req');
  });

  it('runs commands in parallel on one connection', async () => {
    const results = await Promise.all([1, 2, 3, 4].map((n) => connection.capture(`sleep 0.2; echo ${n}`)));
    expect(results.map((result) => result.stdout.toString())).toEqual(['1\n', '2\n', '3\n', '4\n']);
  });
});

describe('host key verification', () => {
  it('rejects an unknown host key with its fingerprint', async () => {
    const home = await createClientHome([worker], { trust: false });
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_HOST_KEY_UNKNOWN');
    expect(error.kind).toBe('transport');
    expect(error.message).toContain(`worker "${worker.workerId}"`);
    expect(error.message).toContain(`root@127.0.0.1:${worker.port}`);
    expect(error.message).toContain(`host key ssh-ed25519 ${hostKeyFingerprint}`);
    expect(error.hint).toContain(`rch workers trust ${worker.workerId}`);
  });

  it('rejects a changed host key and names the old entry', async () => {
    const home = await createClientHome([worker], { trust: false });
    const otherKey = await generateKey(path.join(home.home, 'other_host_key'));
    const [type, data] = otherKey.split(' ');
    await fs.writeFile(home.knownHostsFile, `# old entry below\n[127.0.0.1]:${worker.port} ${type} ${data}\n`);
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_HOST_KEY_CHANGED');
    expect(error.message).toContain('man-in-the-middle');
    expect(error.message).toContain(`${home.knownHostsFile} line 2`);
    expect(error.message).toContain(hostKeyFingerprint);
    expect(error.hint).toContain(`ssh-keygen -R '[127.0.0.1]:${worker.port}' -f ${home.knownHostsFile}`);
  });

  it('rejects a revoked host key', async () => {
    const home = await createClientHome([worker]);
    const [type, data] = worker.hostKeyPublic.split(' ');
    await fs.appendFile(home.knownHostsFile, `@revoked * ${type} ${data}\n`);
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_HOST_KEY_REVOKED');
    expect(error.message).toContain(hostKeyFingerprint);
  });

  it('trusts a [127.0.0.1]:port entry', async () => {
    const home = await createClientHome([worker]);
    expect(await fs.readFile(home.knownHostsFile, 'utf8')).toContain(`[127.0.0.1]:${worker.port} `);
    const opened = await connectHome(home);
    expect((await opened.capture('echo ok')).stdout.toString()).toBe('ok\n');
    opened.close();
  });

  it('trusts a hashed entry', async () => {
    const home = await createClientHome([worker]);
    await execa('ssh-keygen', ['-H', '-f', home.knownHostsFile]);
    expect(await fs.readFile(home.knownHostsFile, 'utf8')).not.toContain('127.0.0.1');
    const opened = await connectHome(home);
    expect((await opened.capture('echo ok')).stdout.toString()).toBe('ok\n');
    opened.close();
  });
});

describe('connectWorker', () => {
  it('connects through an ssh config alias', async () => {
    const home = await createClientHome([worker], {
      workerOverrides: {
        [worker.workerId]: { host: 'rch-test-alias', port: undefined, user: undefined, identityFile: undefined },
      },
    });
    const sshConfig = `Host rch-test-alias\n  HostName 127.0.0.1\n  Port ${worker.port}\n  User root\n  IdentityFile ~/.ssh/id_ed25519\n`;
    await fs.writeFile(path.join(home.home, '.ssh', 'config'), sshConfig);
    const opened = await connectHome(home);
    expect(opened.target).toMatchObject({ hostname: '127.0.0.1', port: worker.port, user: 'root' });
    expect((await opened.capture('echo via alias')).stdout.toString()).toBe('via alias\n');
    opened.close();
  });

  it('fails with RCH_SSH_AUTH for a rejected key', async () => {
    const home = await createClientHome([worker]);
    const wrongKey = path.join(home.home, '.ssh', 'id_wrong');
    await generateKey(wrongKey);
    await fs.writeFile(
      home.workersToml,
      (await fs.readFile(home.workersToml, 'utf8')).replace(home.identityFile, wrongKey),
    );
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_AUTH');
    expect(error.kind).toBe('transport');
    expect(error.message).toContain('user "root"');
    expect(error.message).toContain(wrongKey);
    expect(error.hint).toContain('authorized_keys');
  });

  it('fails with RCH_SSH_IDENTITY for a missing identity file', async () => {
    const home = await createClientHome([worker]);
    await fs.rm(home.identityFile);
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_IDENTITY');
    expect(error.message).toContain(home.identityFile);
  });

  it('rejects an encrypted key without an agent', async () => {
    const home = await createClientHome([worker]);
    await fs.rm(home.identityFile);
    await fs.rm(`${home.identityFile}.pub`);
    await generateKey(home.identityFile, 'secret passphrase');
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_IDENTITY');
    expect(error.message).toContain('encrypted');
    expect(error.hint).toContain(`ssh-add ${home.identityFile}`);
  });

  it('fails with RCH_SSH_CONNECT for a closed port', async () => {
    const port = await findClosedPort();
    const home = await createClientHome([worker], { workerOverrides: { [worker.workerId]: { port } } });
    const error = await connectError(home);
    expect(error.code).toBe('RCH_SSH_CONNECT');
    expect(error.kind).toBe('transport');
    expect(error.message).toContain(`root@127.0.0.1:${port}`);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('fails with RCH_SSH_TIMEOUT when the server never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const home = await createClientHome([worker], { workerOverrides: { [worker.workerId]: { port } } });
      await fs.writeFile(path.join(home.home, '.ssh', 'config'), 'Host *\n  ConnectTimeout 1\n');
      const started = Date.now();
      const error = await connectError(home);
      expect(error.code).toBe('RCH_SSH_TIMEOUT');
      expect(error.message).toContain('1000 ms');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('rejects exec after close', async () => {
    const opened = await connectHome(client);
    opened.close();
    expect(opened.state).toBe('closed');
    await expect(opened.exec('true')).rejects.toMatchObject({ code: 'RCH_SSH_CHANNEL' });
  });

  it('fails with RCH_SSH_CHANNEL when sshd dies mid-exec', async () => {
    const doomed = await startWorkerSshd();
    const home = await createClientHome([doomed]);
    const opened = await connectHome(home);
    let killed = false;
    const pending = opened.exec('echo started; sleep 30; echo never', {
      stdout: () => {
        if (killed) return;
        killed = true;
        doomed.kill('SIGKILL', 'all');
      },
    });
    const error = await pending.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RchError);
    expect((error as RchError).code).toBe('RCH_SSH_CHANNEL');
    expect((error as RchError).kind).toBe('transport');
    expect((error as RchError).message).toContain(`worker "${doomed.workerId}"`);
    opened.close();
    await doomed.stop();
  });
});
