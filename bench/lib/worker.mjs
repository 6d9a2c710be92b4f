// Starts a loopback OpenSSH worker for one benchmark, in the way test/helpers/sshd.ts does for
// the tests. Each worker has its own host key, client key, port and remote folders. Its client
// HOME has workers.toml, known_hosts and an ssh_config for the rsync flow's OpenSSH client.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTempDir, registerCleanup } from './cleanup.mjs';
import { runChecked, runCommand } from './command.mjs';

export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const shimsDir = path.join(repoRoot, 'shims');
export const rchBin = path.join(repoRoot, 'bin', 'rch');

const SSHD = '/usr/sbin/sshd';
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const HOST_ALIAS = 'rch-bench-worker';

const cargoHome = process.env.CARGO_HOME || path.join(os.homedir(), '.cargo');
const rustupHome = process.env.RUSTUP_HOME || path.join(os.homedir(), '.rustup');

async function findFreePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Processes below the listener, plus those that carry the session marker after reparenting.
function findSessionPids(listenerPid, marker) {
  const table = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const marked = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(marker);
      table.push({ pid: Number(name), ppid: Number(ppid), marked });
    } catch {
      // The process exited while the table was read.
    }
  }
  const found = new Set(table.filter((entry) => entry.marked).map((entry) => entry.pid));
  const queue = [listenerPid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const entry of table) {
      if (entry.ppid === parent && !found.has(entry.pid)) {
        found.add(entry.pid);
        queue.push(entry.pid);
      }
    }
  }
  return [...found];
}

function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // ESRCH: already gone.
    }
  }
}

/** Stops the sessions first, so the listener still reaps them, then the listener; SIGKILL after a grace period. */
async function stopSshd(child, marker) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  signalAll(findSessionPids(child.pid, marker), 'SIGTERM');
  await sleep(100);
  child.kill('SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) await sleep(50);
  signalAll([...findSessionPids(child.pid, marker), child.pid], 'SIGKILL');
}

function renderSshdConfig({ port, sshdDir, workerHome, marker }) {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(sshdDir, 'host_key')}`,
    `PidFile ${path.join(sshdDir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(sshdDir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'PrintMotd no',
    'MaxSessions 50',
    'MaxStartups 50',
    'LogLevel ERROR',
    // A clean HOME for the worker's sessions: root's own ~/.bashrc may run slow setup code
    // (pyenv on the machine of the first run), which bash sources for every SSH command.
    `SetEnv HOME=${workerHome} ${marker}`,
    '',
  ].join('\n');
}

async function launchSshd({ sshdDir, workerHome, marker, log }) {
  const port = await findFreePort();
  const configFile = path.join(sshdDir, 'sshd_config');
  await writeFile(configFile, renderSshdConfig({ port, sshdDir, workerHome, marker }));
  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk) => log.push(chunk.toString()));
  child.stderr.on('data', (chunk) => log.push(chunk.toString()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited at start:\n${log.join('')}`);
    const connected = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return { child, port };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`sshd on 127.0.0.1:${port} did not accept connections within ${READY_TIMEOUT_MS} ms:\n${log.join('')}`);
}

function buildClientEnv(clientHome) {
  const pathEntries = [shimsDir, path.dirname(process.execPath), path.join(cargoHome, 'bin'), '/usr/local/bin', '/usr/bin', '/bin'];
  return {
    HOME: clientHome,
    USER: 'root',
    LOGNAME: 'root',
    LANG: 'C.UTF-8',
    PATH: [...new Set(pathEntries)].join(':'),
    XDG_CONFIG_HOME: path.join(clientHome, '.config'),
    XDG_STATE_HOME: path.join(clientHome, '.local', 'state'),
    XDG_CACHE_HOME: path.join(clientHome, '.cache'),
    XDG_RUNTIME_DIR: path.join(clientHome, '.run'),
    RUSTUP_HOME: rustupHome,
    CARGO_HOME: cargoHome,
    // A build that cannot go remote fails instead of measuring a local build.
    RCH_REQUIRE_REMOTE: '1',
    // Builds run in the rch process unless a benchmark sets RCH_NO_DAEMON=0 to use the daemon.
    RCH_NO_DAEMON: '1',
  };
}

/**
 * Starts sshd on a free 127.0.0.1 port and prepares a client HOME for it. `stop()` ends every
 * process of the worker; the folder goes with the other temp folders.
 */
export async function startBenchWorker(label) {
  const dir = await createTempDir(label);
  const sshdDir = path.join(dir, 'sshd');
  const workerHome = path.join(dir, 'worker-home');
  const clientHome = path.join(dir, 'client-home');
  const remoteBase = path.join(dir, 'rch-base');
  const rsyncBase = path.join(dir, 'rsync-base');
  for (const folder of [sshdDir, workerHome, remoteBase, rsyncBase, path.join(clientHome, '.ssh'), path.join(clientHome, '.run')]) {
    await mkdir(folder, { recursive: true, mode: 0o700 });
  }
  await symlink(cargoHome, path.join(workerHome, '.cargo'));
  await symlink(rustupHome, path.join(workerHome, '.rustup'));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const identityFile = path.join(clientHome, '.ssh', 'id_ed25519');
  await runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rch-bench-host', '-f', path.join(sshdDir, 'host_key')], { cwd: dir, env: process.env });
  await runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rch-bench-client', '-f', identityFile], { cwd: dir, env: process.env });
  await writeFile(path.join(sshdDir, 'authorized_keys'), await readFile(`${identityFile}.pub`), { mode: 0o600 });

  const marker = `RCH_BENCH_WORKER=${path.basename(dir)}`;
  const log = [];
  const { child, port } = await launchSshd({ sshdDir, workerHome, marker, log });
  const stop = () => stopSshd(child, marker);
  registerCleanup(stop, () => signalAll([...findSessionPids(child.pid, marker), child.pid], 'SIGKILL'));
  const env = buildClientEnv(clientHome);
  // Registered after sshd, so it runs before it: a daemon a build started lives in this HOME.
  registerCleanup(() => runCommand(process.execPath, [rchBin, 'daemon', 'stop'], { cwd: dir, env, timeoutMs: 30_000 }));

  const [keyType, keyData] = (await readFile(path.join(sshdDir, 'host_key.pub'), 'utf8')).split(' ');
  const knownHosts = path.join(clientHome, '.ssh', 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${keyType} ${keyData}\n`, { mode: 0o600 });
  await mkdir(path.join(env.XDG_CONFIG_HOME, 'rch'), { recursive: true });
  // As many slots as the machine has cores, so that a remote build runs as many jobs as a local one.
  await writeFile(
    path.join(env.XDG_CONFIG_HOME, 'rch', 'workers.toml'),
    `[[workers]]\nid = "bench"\nhost = "127.0.0.1"\nport = ${port}\nuser = "root"\nidentity_file = "${identityFile}"\nremote_base = "${remoteBase}"\ntotal_slots = ${os.availableParallelism()}\n`,
  );
  const sshConfigFile = path.join(clientHome, '.ssh', 'config');
  await writeFile(
    sshConfigFile,
    `Host ${HOST_ALIAS}\n  HostName 127.0.0.1\n  Port ${port}\n  User root\n  IdentityFile ${identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${knownHosts}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n`,
  );
  return { dir, port, env, remoteBase, rsyncBase, sshConfigFile, hostAlias: HOST_ALIAS, controlDir: dir, stop, log: () => log.join('') };
}

/** Returns the path of rch's worker copy of a local path. */
export function workerCopyOf(worker, localPath) {
  return path.join(worker.remoteBase, localPath);
}
