import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWorkersCommand } from '../../lib/cli/workers-command.js';
import { runStatusCommand } from '../../lib/cli/status-command.js';
import { recordBuild } from '../../lib/build/build-history.js';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { RchError } from '../../lib/errors.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

let worker: SshdWorker;

class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

async function run(home: ClientHome, command: 'workers' | 'status', args: string[]) {
  const stdout = new TextSink();
  const stderr = new TextSink();
  const context = { paths: resolvePaths(home.env), env: home.env, stdout, stderr, cwd: home.home };
  const runner = command === 'workers' ? runWorkersCommand : runStatusCommand;
  const outcome = await runner(args, context).then(
    (exitCode) => ({ exitCode, error: undefined }),
    (error: unknown) => ({ exitCode: undefined, error: error as RchError }),
  );
  return { ...outcome, stdout: stdout.text, stderr: stderr.text };
}

async function workerIds(home: ClientHome): Promise<string[]> {
  return (await loadWorkers(resolvePaths(home.env), home.env)).map((entry) => entry.id);
}

beforeAll(async () => {
  worker = await startWorkerSshd();
});

afterAll(async () => {
  await worker?.stop();
});

describe('rch workers add', () => {
  it('appends a worker and keeps the rest of the file', async () => {
    const home = await createClientHome([worker]);
    await fs.writeFile(home.workersToml, `# my fleet\n${await fs.readFile(home.workersToml, 'utf8')}`);
    const before = await fs.readFile(home.workersToml, 'utf8');

    const added = await run(home, 'workers', ['add', 'big', '--host', 'big.lan', '--port', '2222', '--slots', '16', '--tag', 'fast', '--tag', 'x86']);

    expect(added.exitCode).toBe(0);
    expect(added.stdout).toContain('rch workers trust big');
    const after = await fs.readFile(home.workersToml, 'utf8');
    expect(after.startsWith(before)).toBe(true);
    const [, big] = await loadWorkers(resolvePaths(home.env), home.env);
    expect(big).toMatchObject({ id: 'big', host: 'big.lan', port: 2222, totalSlots: 16, tags: ['fast', 'x86'], enabled: true });
  });

  it('rejects an id that exists', async () => {
    const home = await createClientHome([worker]);
    const result = await run(home, 'workers', ['add', worker.workerId, '--host', 'other']);
    expect(result.error?.code).toBe('RCH_CONFIG_EDIT');
    expect(result.error?.hint).toContain(`rch workers remove ${worker.workerId}`);
  });

  it('rejects an invalid value without writing', async () => {
    const home = await createClientHome([worker]);
    const before = await fs.readFile(home.workersToml, 'utf8');
    const result = await run(home, 'workers', ['add', 'bad', '--host', 'h', '--port', '70000']);

    expect(result.error?.code).toBe('RCH_CONFIG_INVALID');
    expect(result.error?.message).toContain('field "port" is 70000');
    expect(await fs.readFile(home.workersToml, 'utf8')).toBe(before);
  });

  it('exits 2 without --host', async () => {
    const home = await createClientHome([worker]);
    const result = await run(home, 'workers', ['add', 'nohost']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('missing --host HOST');
  });
});

describe('rch workers remove', () => {
  it('removes one table and its comment', async () => {
    const home = await createClientHome([worker]);
    await run(home, 'workers', ['add', 'first', '--host', 'first.lan']);
    await run(home, 'workers', ['add', 'second', '--host', 'second.lan']);
    const text = await fs.readFile(home.workersToml, 'utf8');
    await fs.writeFile(home.workersToml, text.replace(/(\[\[workers\]\]\nid = "first")/, '# the first one\n$1'));

    const result = await run(home, 'workers', ['remove', 'first']);

    expect(result.exitCode).toBe(0);
    expect(await workerIds(home)).toEqual([worker.workerId, 'second']);
    expect(await fs.readFile(home.workersToml, 'utf8')).not.toContain('the first one');
  });

  it('names the known workers for an unknown id', async () => {
    const home = await createClientHome([worker]);
    const result = await run(home, 'workers', ['remove', 'nope']);
    expect(result.error?.code).toBe('RCH_WORKER_UNKNOWN');
    expect(result.error?.message).toContain(worker.workerId);
  });
});

describe('rch workers enable, disable and drain', () => {
  it('disables and enables through workers.toml', async () => {
    const home = await createClientHome([worker]);
    const disabled = await run(home, 'workers', ['disable', worker.workerId]);
    expect(disabled.exitCode).toBe(0);
    expect(await fs.readFile(home.workersToml, 'utf8')).toContain('enabled = false');
    expect((await loadWorkers(resolvePaths(home.env), home.env))[0]!.enabled).toBe(false);

    const again = await run(home, 'workers', ['disable', worker.workerId]);
    expect(again.stdout).toContain('already disabled');

    await run(home, 'workers', ['enable', worker.workerId]);
    expect((await loadWorkers(resolvePaths(home.env), home.env))[0]!.enabled).toBe(true);
  });

  it('drains without touching workers.toml', async () => {
    const home = await createClientHome([worker]);
    const before = await fs.readFile(home.workersToml, 'utf8');
    const drained = await run(home, 'workers', ['drain', worker.workerId, '--json']);

    expect(drained.exitCode).toBe(0);
    const report = JSON.parse(drained.stdout) as { drainedSince: string; slots: { inUse: number } };
    expect(Date.parse(report.drainedSince)).toBeGreaterThan(0);
    expect(report.slots.inUse).toBe(0);
    expect(await fs.readFile(home.workersToml, 'utf8')).toBe(before);

    const status = await run(home, 'status', ['--workers']);
    expect(status.stdout).toMatch(new RegExp(`^${worker.workerId}\\s+drained\\s+closed\\s+0/4\\s+0\\s+100$`, 'm'));

    const enabled = await run(home, 'workers', ['enable', worker.workerId]);
    expect(enabled.stdout).toContain('ended the drain');
    expect((await run(home, 'status', ['--workers'])).stdout).toMatch(new RegExp(`^${worker.workerId}\\s+ready`, 'm'));
  });
});

describe('rch status', () => {
  it('shows workers, the daemon and recent builds as JSON', async () => {
    const home = await createClientHome([worker]);
    const paths = resolvePaths(home.env);
    await recordBuild(paths.state, {
      finishedAt: '2026-01-02T03:04:05.000Z',
      workspaceRoot: '/src/app',
      subcommand: 'build',
      outcome: 'remote',
      worker: worker.workerId,
      exitCode: 0,
      durationMs: 1234,
    });

    const result = await run(home, 'status', ['--json']);
    const status = JSON.parse(result.stdout) as {
      daemon: { running: boolean };
      workers: Array<{ id: string; slots: { total: number; inUse: number; queued: number }; breaker: { state: string } }>;
      builds: Array<{ worker: string; durationMs: number }>;
    };

    expect(result.exitCode).toBe(0);
    expect(status.daemon.running).toBe(false);
    expect(status.workers[0]).toMatchObject({ id: worker.workerId, slots: { total: 4, inUse: 0, queued: 0 }, breaker: { state: 'closed' } });
    expect(status.builds[0]).toMatchObject({ worker: worker.workerId, durationMs: 1234 });
  });

  it('prints the build table', async () => {
    const home = await createClientHome([worker]);
    await recordBuild(resolvePaths(home.env).state, {
      finishedAt: '2026-01-02T03:04:05.000Z',
      workspaceRoot: '/src/app',
      subcommand: 'check',
      outcome: 'fallback',
      worker: undefined,
      exitCode: 0,
      durationMs: 2500,
      reason: 'no worker',
    });

    const result = await run(home, 'status', []);

    expect(result.stdout).toMatch(/^daemon: not running/m);
    expect(result.stdout).toMatch(/^2026-01-02T03:04:05\.000Z\s+local\s+check\s+0\s+2\.5 s\s+\/src\/app$/m);
  });
});
