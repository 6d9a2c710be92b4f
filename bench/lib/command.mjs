// Runs one program and times it. Each child leads its own process group, so a timeout or an
// interrupted benchmark also ends what it started (cargo, rustc, ssh).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { forgetCleanup, registerCleanup } from './cleanup.mjs';

/** A command that takes longer than this is killed. A clean build of the packaged project took 21 s on two cores. */
export const COMMAND_TIMEOUT_MS = 15 * 60 * 1000;

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone.
  }
}

/**
 * Runs `file` with `args` and resolves with its exit code, output and wall time in
 * milliseconds (from spawn to exit). `env` is the complete environment of the child.
 */
export function runCommand(file, args, { cwd, env, input, timeoutMs = COMMAND_TIMEOUT_MS }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { cwd, env, detached: true, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const cleanupId = registerCleanup(
      async () => killGroup(child.pid, 'SIGKILL'),
      () => killGroup(child.pid, 'SIGKILL'),
    );
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    if (input !== undefined) child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);

    child.once('error', (error) => {
      clearTimeout(timer);
      forgetCleanup(cleanupId);
      reject(new Error(`cannot run ${file}: ${error.message}`));
    });
    child.once('close', (exitCode, signal) => {
      const ms = performance.now() - started;
      clearTimeout(timer);
      forgetCleanup(cleanupId);
      // A timed-out child's grandchildren would otherwise keep running. After a normal exit the
      // group is left alone, because an ssh ControlMaster that a step started lives on in it.
      if (timedOut) killGroup(child.pid, 'SIGKILL');
      resolve({
        exitCode,
        signal,
        timedOut,
        ms,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/** Like runCommand, but throws with the command's stderr when it does not exit with 0. */
export async function runChecked(file, args, options) {
  const result = await runCommand(file, args, options);
  if (result.exitCode !== 0) {
    const reason = result.timedOut ? 'timed out' : `exited with ${result.exitCode ?? result.signal}`;
    throw new Error(`${file} ${args.join(' ')} ${reason} in ${options.cwd}:\n${result.stderr.slice(-4000)}`);
  }
  return result;
}
