import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createTinyCrate } from '../helpers/fixtures.js';
import { runCargo } from '../helpers/run.js';

let worker: SshdWorker;

/** A port with nothing listening on it: bound, noted, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function acceptedSessions(): number {
  return (worker.log().match(/Accepted publickey/g) ?? []).length;
}

beforeAll(async () => {
  worker = await startWorkerSshd();
});

afterAll(async () => {
  await worker?.stop();
});

describe('local fallback', () => {
  let client: ClientHome;
  beforeAll(async () => {
    client = await createClientHome([worker]);
  });
  afterAll(async () => client?.cleanup());

  it('opens no SSH session with RCH_DISABLE=1', async () => {
    const crate = await createTinyCrate();
    const before = acceptedSessions();
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_DISABLE: '1' } });

    expect(result.exitCode).toBe(0);
    expect(result.stderr).not.toContain('rch:');
    expect(acceptedSessions()).toBe(before);
  });

  it('opens no SSH session for cargo metadata', async () => {
    const crate = await createTinyCrate();
    const before = acceptedSessions();
    const result = await runCargo(['metadata', '--format-version', '1', '--no-deps'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout).packages[0].name).toBe('hello');
    expect(acceptedSessions()).toBe(before);
  });
});

describe('unreachable worker', () => {
  let client: ClientHome;
  beforeAll(async () => {
    client = await createClientHome([worker], { workerOverrides: { [worker.workerId]: { port: await closedPort() } } });
  });
  afterAll(async () => client?.cleanup());

  it('falls back to a local build with one rch line', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('rch:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^rch: .*connect.*; building locally$/i);
    await fs.access(path.join(crate.root, 'target/debug/hello'));
  });

  it('fails with RCH_REQUIRE_REMOTE=1', async () => {
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_REQUIRE_REMOTE: '1' } });

    expect(result.exitCode).toBe(75);
    expect(result.stderr).toMatch(/^rch: .*RCH_REQUIRE_REMOTE=1/m);
    await expect(fs.access(path.join(crate.root, 'target'))).rejects.toThrow();
  });
});

describe('host keys', () => {
  it('refuses an unknown host key and names the trust command', async () => {
    const client = await createClientHome([worker], { trust: false });
    const crate = await createTinyCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: { ...client.env, RCH_REQUIRE_REMOTE: '1' } });

    expect(result.exitCode).toBe(75);
    expect(result.stderr).toMatch(/SHA256:[A-Za-z0-9+/]+/);
    expect(result.stderr).toContain(`rch workers trust ${worker.workerId}`);
    await client.cleanup();
  });

  it('refuses a changed host key', async () => {
    const client = await createClientHome([worker], { trust: false });
    const other = await startWorkerSshd();
    const otherKey = other.hostKeyPublic.split(' ').slice(0, 2).join(' ');
    await fs.writeFile(client.knownHostsFile, `[127.0.0.1]:${worker.port} ${otherKey}\n`);
    await other.stop();
    const crate = await createTinyCrate();
    const before = acceptedSessions();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(0);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('rch:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/changed/i);
    expect(acceptedSessions()).toBe(before);
    await client.cleanup();
  });
});
