import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';
import { createFixture } from '../helpers/fixtures.js';
import { cargoShim } from '../helpers/run.js';

let worker: SshdWorker;
let client: ClientHome;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
});

afterAll(async () => {
  await client?.cleanup();
  await worker?.stop();
});

/** Pids of processes whose command line mentions `text`. */
function processesMatching(text: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('remote cargo interruption', () => {
  it('stops the remote build on SIGINT', async () => {
    const crate = await createFixture({
      'Cargo.toml': '[package]\nname = "slow"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n',
      'build.rs': 'fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(120));\n}\n',
      'src/main.rs': 'fn main() {}\n',
    });
    const build = execa(cargoShim, ['build'], { cwd: crate.root, env: client.env, extendEnv: false, reject: false });
    const remoteBuildScript = `${worker.remoteBase}${crate.root}/target/debug/build/slow-[0-9a-f]+/build-script-build`;
    await waitFor(() => processesMatching(remoteBuildScript).length > 0, 60_000);

    build.kill('SIGINT');
    const result = await build;

    expect(result.exitCode).toBe(130);
    await waitFor(() => processesMatching(remoteBuildScript).length === 0, 10_000);
    expect(processesMatching(remoteBuildScript)).toEqual([]);
  });
});
