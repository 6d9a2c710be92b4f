import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolvePaths, type RchPaths } from '../../lib/config/paths.js';
import type { WorkerConfig } from '../../lib/config/types.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { ConnectionPool, MAX_CHANNELS_PER_CONNECTION } from '../../lib/daemon/connection-pool.js';
import { openDaemonLog, type DaemonLog } from '../../lib/daemon/daemon-log.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { waitFor } from './daemon-helpers.js';

let worker: SshdWorker;
let client: ClientHome;
let paths: RchPaths;
let workerConfig: WorkerConfig;
let scratch: string;
let log: DaemonLog;
let pool: ConnectionPool;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
  paths = resolvePaths(client.env);
  [workerConfig] = (await loadWorkers(paths, client.env)) as [WorkerConfig];
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

beforeEach(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-pool-'));
  log = openDaemonLog(path.join(scratch, 'rchd.log'));
  pool = new ConnectionPool(log);
});

afterEach(async () => {
  pool.closeAll();
  log.close();
  await fs.rm(scratch, { recursive: true, force: true });
});

const lease = (config: WorkerConfig = workerConfig) => pool.lease(config, { paths, env: client.env });

describe('connection pool', () => {
  it('shares one connection between builds', async () => {
    const first = await lease();
    const second = await lease();
    expect(second.connection).toBe(first.connection);
    const [output] = await Promise.all([first.connection.capture('echo one'), second.connection.capture('echo two')]);
    expect(output.stdout.toString()).toBe('one\n');
    expect(pool.status()).toEqual([expect.objectContaining({ worker: worker.workerId, state: 'ready', leases: 2 })]);

    first.release(false);
    second.release(false);
    const third = await lease();
    expect(third.connection).toBe(first.connection);
    third.release(false);
  });

  it('opens another connection past the channel cap', async () => {
    const leases = await Promise.all(Array.from({ length: MAX_CHANNELS_PER_CONNECTION + 1 }, () => lease()));
    const connections = new Set(leases.map((held) => held.connection));
    expect(connections.size).toBe(2);
    expect(pool.status().map((entry) => entry.leases).sort()).toEqual([1, MAX_CHANNELS_PER_CONNECTION]);
    for (const held of leases) held.release(false);
  });

  it('replaces a dropped connection at the next lease', async () => {
    const first = await lease();
    first.release(false);
    worker.kill('SIGKILL', 'sessions');
    await waitFor(() => first.connection.state === 'closed', 10_000, 'the dropped connection to close');

    const second = await lease();
    expect(second.connection).not.toBe(first.connection);
    expect((await second.connection.capture('echo again')).stdout.toString()).toBe('again\n');
    second.release(false);
  });

  it('closes a broken connection after its last lease', async () => {
    const broken = await lease();
    const sharing = await lease();
    broken.release(true);
    expect(pool.status()).toEqual([expect.objectContaining({ state: 'draining', leases: 1 })]);
    expect((await sharing.connection.capture('echo still usable')).stdout.toString()).toBe('still usable\n');

    const fresh = await lease();
    expect(fresh.connection).not.toBe(broken.connection);
    sharing.release(false);
    expect(broken.connection.state).toBe('closed');
    fresh.release(false);
  });

  it('opens a new connection when the worker entry changes', async () => {
    const first = await lease();
    const copiedKey = path.join(scratch, 'id_copy');
    await fs.copyFile(client.identityFile, copiedKey);
    await fs.chmod(copiedKey, 0o600);
    const changed = await lease({ ...workerConfig, identityFile: copiedKey });
    expect(changed.connection).not.toBe(first.connection);
    first.release(false);
    changed.release(false);
  });

  it('reports a failed connection to the lease', async () => {
    const unreachable = { ...workerConfig, id: 'unreachable', port: 1 };
    await expect(lease(unreachable)).rejects.toMatchObject({ code: 'RCH_SSH_CONNECT', kind: 'transport' });
    expect(pool.status()).toEqual([]);
    expect(await fs.readFile(path.join(scratch, 'rchd.log'), 'utf8')).toMatch(/connection c-\w+ to worker unreachable: failed: RCH_SSH_CONNECT/);
  });
});
