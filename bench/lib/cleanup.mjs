// Cleanup registry for the benchmarks: every process group, sshd and temp folder a benchmark
// starts is registered here and removed when the benchmark ends, on Ctrl-C and at exit.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const tasks = new Map();
let nextId = 0;

/** Registers `asyncTask` (run by runCleanups) and `syncTask` (run at a sudden exit). Returns a key for forgetCleanup. */
export function registerCleanup(asyncTask, syncTask = () => undefined) {
  const id = nextId++;
  tasks.set(id, { asyncTask, syncTask });
  return id;
}

export function forgetCleanup(id) {
  tasks.delete(id);
}

/** Runs the registered cleanups, newest first, and removes them from the registry. Errors are printed, not thrown. */
export async function runCleanups() {
  const pending = [...tasks.entries()].reverse();
  tasks.clear();
  for (const [, task] of pending) {
    try {
      await task.asyncTask();
    } catch (error) {
      process.stderr.write(`bench: cleanup failed: ${error instanceof Error ? error.message : error}\n`);
    }
  }
}

function runSyncCleanups() {
  for (const task of [...tasks.values()].reverse()) {
    try {
      task.syncTask();
    } catch {
      // Best effort while the process exits.
    }
  }
  tasks.clear();
}

process.on('exit', runSyncCleanups);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    runSyncCleanups();
    process.kill(process.pid, signal);
  });
}

/** Creates a temporary folder `rch-bench-<label>-*` that is removed with the other cleanups. */
export async function createTempDir(label) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `rch-bench-${label}-`));
  registerCleanup(
    () => rm(dir, { recursive: true, force: true }),
    () => rmSync(dir, { recursive: true, force: true }),
  );
  return dir;
}
