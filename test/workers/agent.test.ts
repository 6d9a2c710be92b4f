import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import type { WorkerConfig } from '../../lib/config/types.js';
import { connectWorker, type SshConnection } from '../../lib/ssh/connection.js';
import { installAgent } from '../../lib/workers/install-agent.js';
import { formatInstalledAgentCommand } from '../../lib/workers/run-agent.js';
import { querySlotStatus } from '../../lib/workers/slot-status.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

let worker: SshdWorker;
let client: ClientHome;
let config: WorkerConfig;
let scratch: string;
const connections: SshConnection[] = [];

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker], { workerOverrides: { [worker.workerId]: { totalSlots: 2 } } });
  [config] = (await loadWorkers(resolvePaths(client.env), client.env)) as [WorkerConfig];
  scratch = await mkdtemp(path.join(os.tmpdir(), 'rch-agent-'));
  const connection = await connect();
  await installAgent(connection, config);
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  await rm(scratch, { recursive: true, force: true });
  await client?.cleanup();
  await worker?.stop();
});

async function connect(): Promise<SshConnection> {
  const connection = await connectWorker(config, { paths: resolvePaths(client.env), env: client.env });
  connections.push(connection);
  return connection;
}

/** `slots acquire COUNT 2 --timeout SECONDS -- sh -c SCRIPT`, as a command for the worker's login shell. */
function acquireCommand(count: number, timeoutSecs: number, script: string): string {
  const args = ['slots', 'acquire', String(count), '2', '--timeout', String(timeoutSecs), '--base', config.remoteBase, '--', 'sh', '-c', script, 'job', scratch];
  return formatInstalledAgentCommand(config.remoteBase, args);
}

/** Runs a command through the OpenSSH client, which the test can kill like a crashing rch. */
function runSsh(command: string): ResultPromise {
  const args = ['-i', client.identityFile, '-o', `UserKnownHostsFile=${client.knownHostsFile}`, '-o', 'BatchMode=yes'];
  return execa('ssh', [...args, '-p', String(worker.port), `root@${worker.host}`, command], { reject: false, stdin: 'pipe' });
}

async function waitForSlots(connection: SshConnection, predicate: (inUse: number, queued: number) => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await querySlotStatus(connection, config);
    if (predicate(status.inUse, status.queued)) return;
    if (Date.now() > deadline) throw new Error(`slot status never matched: ${JSON.stringify(status)}`);
    await sleep(100);
  }
}

describe('rch-wkr slots', () => {
  it('runs no more jobs than the total across connections', async () => {
    const job = 'mkdir "$1/run.$$"; ls -d "$1"/run.* | wc -l >>"$1/counts"; sleep 0.4; rmdir "$1/run.$$"';
    const clients = await Promise.all([connect(), connect(), connect()]);
    // stdin stays open while a job waits: its end would cancel the wait.
    const run = (connection: SshConnection) => {
      const stdin = new PassThrough();
      return connection.exec(acquireCommand(1, 60, job), { stdin }).finally(() => stdin.end());
    };
    const results = await Promise.all(Array.from({ length: 6 }, (_, index) => run(clients[index % 3]!)));

    for (const result of results) expect(result.exitCode).toBe(0);
    const counts = (await readFile(path.join(scratch, 'counts'), 'utf8')).trim().split('\n').map(Number);
    expect(counts).toHaveLength(6);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2);
  });

  it('frees the slots of a client that dies', async () => {
    const observer = await connect();
    const holder = runSsh(acquireCommand(2, 0, 'cat >/dev/null'));
    await waitForSlots(observer, (inUse) => inUse === 2);

    holder.kill('SIGKILL');
    await holder;
    await waitForSlots(observer, (inUse) => inUse === 0);
  });

  it('queues a request until slots free up', async () => {
    const observer = await connect();
    const holder = runSsh(acquireCommand(2, 0, 'cat >/dev/null'));
    await waitForSlots(observer, (inUse) => inUse === 2);
    const waiter = runSsh(acquireCommand(1, 60, 'echo granted'));
    await waitForSlots(observer, (inUse, queued) => inUse === 2 && queued === 1);

    holder.stdin!.end();
    const result = await waiter;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('granted');
    await holder;
  });

  it('reports busy when the wait runs out', async () => {
    const observer = await connect();
    const holder = runSsh(acquireCommand(2, 0, 'cat >/dev/null'));
    await waitForSlots(observer, (inUse) => inUse === 2);
    const started = Date.now();
    const waiter = runSsh(acquireCommand(1, 1, 'echo granted'));
    const result = await waiter;
    holder.stdin!.end();
    await holder;

    expect(result.exitCode).toBe(214);
    expect(result.stderr).toMatch(/^rch-slots-busy: 1 of 2 slots were not free within 1 s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('stops waiting when the client closes stdin', async () => {
    const observer = await connect();
    const holder = runSsh(acquireCommand(2, 0, 'cat >/dev/null'));
    await waitForSlots(observer, (inUse) => inUse === 2);
    const waiter = runSsh(acquireCommand(1, 60, 'echo granted'));
    await waitForSlots(observer, (_inUse, queued) => queued === 1);

    waiter.stdin!.end();
    const result = await waiter;
    holder.stdin!.end();
    await holder;

    expect(result.exitCode).toBe(130);
    expect(result.stdout).toBe('');
    await waitForSlots(observer, (inUse, queued) => inUse === 0 && queued === 0);
  });
});

describe('installAgent', () => {
  it('leaves a current agent untouched', async () => {
    const connection = await connect();
    const file = path.join(worker.remoteBase, '.rch/bin/rch-wkr');
    const before = await stat(file);

    expect(await installAgent(connection, config)).toBe('unchanged');
    const after = await stat(file);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.mode & 0o777).toBe(0o755);
  });
});
