// The two ways of building on the worker that the benchmarks compare: rch through the cargo
// shim, and the manual flow of rsync up, `ssh worker cargo build`, rsync `target/` back.
import path from 'node:path';
import { registerCleanup } from './cleanup.mjs';
import { runChecked, runCommand } from './command.mjs';
import { shimsDir } from './worker.mjs';

/** Connection modes of the rsync + ssh flow: a new SSH connection per step, or one ControlMaster connection. */
export const SSH_MODES = ['per-step', 'control-master'];

function quote(word) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Reads the `RCH_TIMINGS=1` line that rch prints at exit. */
export function parseTimings(stderr) {
  const line = stderr
    .split('\n')
    .reverse()
    .find((candidate) => candidate.startsWith('{"rchTimings":'));
  if (!line) throw new Error(`rch printed no timings line; its stderr ends with:\n${stderr.slice(-2000)}`);
  return JSON.parse(line).rchTimings;
}

/** Runs `cargo ARGS` through the shim with RCH_TIMINGS=1 and returns the wall time and rch's phase timings. */
export async function runRchCargo(worker, cwd, args, extraEnv = {}) {
  const result = await runChecked(path.join(shimsDir, 'cargo'), args, { cwd, env: { ...worker.env, RCH_TIMINGS: '1', ...extraEnv } });
  if (/^rch: .*building locally/m.test(result.stderr)) throw new Error(`rch fell back to a local build:\n${result.stderr}`);
  return { ms: result.ms, timings: parseTimings(result.stderr) };
}

function sshOptions(worker, mode) {
  const options = ['-F', worker.sshConfigFile];
  if (mode === 'control-master') {
    return [...options, '-o', 'ControlMaster=auto', '-o', `ControlPath=${worker.controlDir}/cm-%C`, '-o', 'ControlPersist=60'];
  }
  return [...options, '-o', 'ControlMaster=no', '-o', 'ControlPath=none'];
}

/** Registers the shutdown of the ControlMaster connection of `worker`, if one was started. */
export function stopControlMasterOnCleanup(worker) {
  registerCleanup(async () => {
    await runCommand('ssh', [...sshOptions(worker, 'control-master'), '-O', 'exit', worker.hostAlias], {
      cwd: worker.dir,
      env: worker.env,
      timeoutMs: 10_000,
    });
  });
}

/** Parses `Total bytes received: 1,234` from `rsync --stats`. */
function parseBytesReceived(stdout) {
  const match = /^Total bytes received: ([\d,.]+)/m.exec(stdout);
  return match ? Number(match[1].replace(/[,.]/g, '')) : undefined;
}

/**
 * Runs one build through the manual flow, timed per step:
 * `rsync -a --delete` of the sources (without target/ and .git), `ssh worker 'cd DIR && cargo ARGS'`,
 * `rsync -a --stats` of target/ back.
 */
export async function runRsyncFlow(worker, { localDir, remoteDir, mode, args = ['build'] }) {
  const ssh = sshOptions(worker, mode);
  const rsh = ['ssh', ...ssh].map(quote).join(' ');
  const options = { cwd: localDir, env: worker.env };
  const host = worker.hostAlias;

  const up = await runChecked('rsync', ['-a', '--delete', '--exclude=/target', '--exclude=.git', '-e', rsh, `${localDir}/`, `${host}:${remoteDir}/`], options);
  const remoteCommand = `cd ${quote(remoteDir)} && PATH="$HOME/.cargo/bin:$PATH" cargo ${args.map(quote).join(' ')}`;
  const build = await runChecked('ssh', [...ssh, host, remoteCommand], options);
  const down = await runChecked('rsync', ['-a', '--stats', '-e', rsh, `${host}:${remoteDir}/target/`, `${localDir}/target/`], options);
  return {
    syncMs: up.ms,
    buildMs: build.ms,
    pullMs: down.ms,
    totalMs: up.ms + build.ms + down.ms,
    pulledBytes: parseBytesReceived(down.stdout),
  };
}
