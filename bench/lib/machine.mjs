// Describes the machine a benchmark run happened on, for the record in BENCHMARKS.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function firstLine(file, args) {
  try {
    const output = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return output.split('\n')[0].trim();
  } catch {
    return 'not found';
  }
}

// `ssh -V` prints its version on stderr.
function sshVersion() {
  const result = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return (result.stderr || result.stdout || 'not found').trim();
}

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('model name'));
    return line ? line.split(':')[1].trim() : os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

/** Collects nproc, CPU model, RAM, kernel, load, and the versions of Node, cargo, rustc, OpenSSH and rsync. */
export function describeMachine(cargo) {
  return {
    nproc: os.availableParallelism(),
    cpu: cpuModel(),
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    cargo: firstLine(cargo, ['--version']),
    rustc: firstLine(cargo.replace(/cargo$/, 'rustc'), ['--version']),
    openssh: sshVersion(),
    rsync: firstLine('rsync', ['--version']),
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

/** Returns the load averages now, which mark the runs that other processes disturbed. */
export function currentLoad() {
  return os.loadavg().map((load) => Math.round(load * 100) / 100);
}
