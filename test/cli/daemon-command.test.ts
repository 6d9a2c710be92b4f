import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDaemonProcess } from '../../lib/daemon/daemon-lock.js';
import { runRch } from '../helpers/run.js';

let home: string;
let env: NodeJS.ProcessEnv;
const startedPids = new Set<number>();

beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-daemon-cli-'));
  env = {
    HOME: home,
    PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
  };
});

afterAll(async () => {
  for (const pid of startedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await fs.rm(home, { recursive: true, force: true });
});

const rch = (...args: string[]) => runRch(['daemon', ...args], { cwd: home, env, timeoutMs: 30_000 });

function pidIn(output: string): number {
  const match = /pid (\d+)/.exec(output);
  if (!match) throw new Error(`no pid in ${JSON.stringify(output)}`);
  const pid = Number(match[1]);
  startedPids.add(pid);
  return pid;
}

describe('rch daemon', () => {
  it('starts, restarts and stops the daemon', async () => {
    const started = await rch('start');
    expect(started.exitCode).toBe(0);
    const pid = pidIn(started.stdout);
    expect(started.stdout).toBe(`rch daemon: running as pid ${pid} (socket ${path.join(home, 'run', 'rch', 'rchd.sock')})\n`);

    const again = await rch('start');
    expect(pidIn(again.stdout)).toBe(pid);

    const status = await rch('status');
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain(`rch daemon: running, pid ${pid}`);
    expect(status.stdout).toContain('projects: none');

    const restarted = await rch('restart');
    expect(restarted.exitCode).toBe(0);
    const newPid = pidIn(restarted.stdout);
    expect(newPid).not.toBe(pid);
    expect(isDaemonProcess(pid)).toBe(false);

    const stopped = await rch('stop');
    expect(stopped.stdout).toBe(`rch daemon: stopped pid ${newPid}\n`);
    const log = await fs.readFile(path.join(home, 'state', 'rch', 'rchd.log'), 'utf8');
    expect(log).toContain(`rchd[${newPid}] info started`);
    expect(log).toContain(`rchd[${newPid}] info stopped`);
  });

  it('reports a daemon that is not running', async () => {
    const status = await rch('status', '--json');
    expect(status.exitCode).toBe(3);
    expect(JSON.parse(status.stdout)).toEqual({ running: false, socket: path.join(home, 'run', 'rch', 'rchd.sock') });
    expect((await rch('stop')).stdout).toContain('rch daemon: not running');
  });

  it('rejects unknown subcommands', async () => {
    const result = await rch('frobnicate');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('rch daemon: unknown subcommand "frobnicate"');
  });
});
