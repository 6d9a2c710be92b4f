import { readdirSync, readFileSync } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractArtifacts } from '../../lib/artifacts/extract-artifacts.js';
import { readBuildHistory } from '../../lib/build/build-history.js';
import { resolvePaths } from '../../lib/config/paths.js';
import { createClientHome, startWorkerSshd, type SshdWorker } from '../helpers/sshd.js';
import { createCompileErrorCrate, createPackagedCratesProject, createTinyCrate } from '../helpers/fixtures.js';
import { runCargo, runRch, type RunResult } from '../helpers/run.js';
import { workerCopyOf } from '../helpers/remote-copy.js';
import { closedPort } from './probe-helpers.js';
import { buildPackagedTemplate, findTemporaryFiles, warmTargetDir } from './fleet-fixtures.js';

function rchLines(result: RunResult): string[] {
  return result.stderr.split('\n').filter((line) => line.startsWith('rch:'));
}

/** Whether a rustc compile job runs with its output below `remoteBase`. */
function isCompilingUnder(remoteBase: string): boolean {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'rustc') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(`${remoteBase}/`)) return true;
    } catch {
      // The process ended while it was read.
    }
  }
  return false;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('transport faults', () => {
  let workers: SshdWorker[];
  beforeAll(async () => {
    workers = [await startWorkerSshd(), await startWorkerSshd(), await startWorkerSshd()];
    await buildPackagedTemplate();
  });
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
  });

  it('never retries a compile error', async () => {
    const client = await createClientHome(workers);
    const crate = await createCompileErrorCrate();
    const result = await runCargo(['build'], { cwd: crate.root, env: client.env });

    expect(result.exitCode).toBe(101);
    expect(rchLines(result)).toEqual([]);
    const history = await readBuildHistory(resolvePaths(client.env).state, 10);
    expect(history.map((record) => record.worker)).toEqual([workers[0]!.workerId]);
    await expect(access(workerCopyOf(workers[1]!.remoteBase, crate.root))).rejects.toThrow();
    await expect(access(workerCopyOf(workers[2]!.remoteBase, crate.root))).rejects.toThrow();
  });

  it('skips a refusing worker and opens its breaker', async () => {
    const client = await createClientHome(workers, { workerOverrides: { [workers[0]!.workerId]: { port: await closedPort() } } });
    for (let build = 0; build < 3; build++) {
      const crate = await createTinyCrate();
      const result = await runCargo(['build'], { cwd: crate.root, env: client.env });
      expect(result.exitCode).toBe(0);
      expect(rchLines(result)).toEqual([]);
    }
    const history = await readBuildHistory(resolvePaths(client.env).state, 3);
    expect(history.map((record) => record.worker)).toEqual(Array(3).fill(workers[1]!.workerId));

    const status = await runRch(['status', '--workers', '--json'], { cwd: client.home, env: client.env });
    const refused = (JSON.parse(status.stdout) as { workers: Array<{ id: string; breaker: { state: string } }> }).workers[0]!;
    expect(refused.breaker.state).toBe('open');
  });

  it('moves a build off a worker whose sshd dies', async () => {
    const client = await createClientHome(workers);
    const [top, next] = workers as [SshdWorker, SshdWorker];
    const project = await createPackagedCratesProject();
    const template = await buildPackagedTemplate();
    // The top worker builds from scratch, which leaves time to kill it; the next one is warm.
    await warmTargetDir(template, path.join(project.root, 'target'));
    await warmTargetDir(template, workerCopyOf(next.remoteBase, path.join(project.root, 'target')));

    const build = runCargo(['build'], { cwd: project.root, env: client.env });
    await waitFor(() => isCompilingUnder(top.remoteBase), 60_000);
    top.kill('SIGKILL', 'all');
    const result = await build;

    expect(result.exitCode, result.stderr).toBe(0);
    expect(rchLines(result)).toEqual([expect.stringMatching(new RegExp(`^rch: worker "${top.workerId}" failed .*; trying another worker$`))]);
    const history = await readBuildHistory(resolvePaths(client.env).state, 1);
    expect(history[0]!.worker).toBe(next.workerId);
    const { stdout } = await execa(path.join(project.root, 'target/debug/packaged'), ['--pattern', 'r[a-z]+', '--text', 'hello rch']);
    expect(JSON.parse(stdout)).toEqual({ matches: ['rch'], pattern: 'r[a-z]+' });
    expect(await findTemporaryFiles(path.join(project.root, 'target'))).toEqual([]);
    expect(isCompilingUnder(top.remoteBase)).toBe(false);
  });
});

describe('artifact pull cut short', () => {
  let target: string;
  beforeAll(async () => {
    target = await mkdtemp(path.join(os.tmpdir(), 'rch-cut-pull-'));
  });
  afterAll(async () => {
    await rm(target, { recursive: true, force: true });
  });

  it('leaves no temporary file behind', async () => {
    const pack = tar.pack();
    pack.entry({ name: 'debug/whole', size: 5 }, 'whole');
    pack.entry({ name: 'debug/app', size: 1024 * 1024, mode: 0o755 }, Buffer.alloc(1024 * 1024, 1));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const whole = Buffer.concat(chunks);

    // The channel ends early when the connection drops: the archive stops inside debug/app.
    const archive = new PassThrough();
    const extraction = extractArtifacts(archive, target);
    archive.write(whole.subarray(0, 200 * 1024));
    await sleep(100);
    archive.end();

    await expect(extraction).rejects.toThrow();
    expect(await findTemporaryFiles(target)).toEqual([]);
    await expect(access(path.join(target, 'debug/app'))).rejects.toThrow();
  });
});
