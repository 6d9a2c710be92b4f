import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { stringify } from 'smol-toml';
import { afterAll } from 'vitest';
import { shimsDir } from './run.js';

const SSHD_PATHS = ['/usr/sbin/sshd', '/usr/bin/sshd'];
const SFTP_SERVER_PATH = '/usr/lib/openssh/sftp-server';
// sshd exits with "Missing privilege separation directory" when this folder is absent.
const PRIVSEP_DIR = '/run/sshd';
const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 50;
const STOP_GRACE_MS = 3_000;
// A free port found by binding port 0 can be taken by another process before sshd binds it.
const BIND_ATTEMPTS = 5;
// Set in every session through SetEnv, so that processes a session left behind can be found
// even after they were reparented away from the sshd process tree.
const SESSION_MARKER_NAME = 'TEST_SSHD_INSTANCE';

export interface StartSshdOptions {
  /** Default: `worker-a`, `worker-b`, … in start order. */
  workerId?: string;
  /** Default: `<temp dir>/<workerId>`, created empty. */
  remoteBase?: string;
  /** Variables sshd sets in every session (`SetEnv`), for fault injection. */
  setEnv?: Record<string, string>;
}

/** Processes that `kill()` signals: the listening sshd, the per-connection processes below it, or both. */
export type SshdKillTarget = 'all' | 'listener' | 'sessions';

export interface SshdWorker {
  workerId: string;
  host: '127.0.0.1';
  port: number;
  user: 'root';
  /** The host key's `.pub` line: `ssh-ed25519 AAAA… comment`. */
  hostKeyPublic: string;
  remoteBase: string;
  authorizedKeysFile: string;
  /** Temporary folder that contains the config, keys, pid file and the default remote base. */
  dir: string;
  /** Pid of the listening `sshd -D`. */
  pid: number;
  addAuthorizedKey(publicKeyLine: string): Promise<void>;
  /** Everything sshd wrote to stderr so far (`LogLevel VERBOSE`). */
  log(): string;
  /** Lists the live processes of this worker's connections: sshd handlers, sessions and what they started. */
  listSessionPids(): number[];
  /** Stops every process of this worker and removes `dir`. Safe to call more than once. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) without waiting and without removing files. */
  kill(signal?: NodeJS.Signals, target?: SshdKillTarget): void;
}

interface RunningSshd {
  child: ChildProcess;
  marker: string;
  dir: string;
}

const runningServers = new Set<RunningSshd>();
const clientHomes = new Set<string>();
let defaultWorkerIdCount = 0;

interface ProcessEntry {
  pid: number;
  ppid: number;
}

// Reads /proc synchronously, so the process 'exit' handler can use it too. Zombies are left out.
function readProcessTable(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name in brackets may contain spaces, so fields are counted after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') entries.push({ pid: Number(name), ppid: Number(ppid) });
    } catch {
      // The process exited while the table was read.
    }
  }
  return entries;
}

function hasEnvironmentEntry(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

function findSessionPids(server: RunningSshd): number[] {
  const table = readProcessTable();
  const found = new Set<number>();
  const listenerPid = server.child.pid;
  const queue = listenerPid === undefined ? [] : [listenerPid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const entry of table) {
      if (entry.ppid === parent && !found.has(entry.pid)) {
        found.add(entry.pid);
        queue.push(entry.pid);
      }
    }
  }
  for (const entry of table) {
    if (hasEnvironmentEntry(entry.pid, server.marker)) found.add(entry.pid);
  }
  return [...found].sort((a, b) => a - b);
}

function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // ESRCH: the process exited in the meantime.
    }
  }
}

function isListenerRunning(server: RunningSshd): boolean {
  return server.child.exitCode === null && server.child.signalCode === null;
}

function signalServer(server: RunningSshd, signal: NodeJS.Signals, target: SshdKillTarget): void {
  if (target !== 'listener') signalPids(findSessionPids(server), signal);
  if (target !== 'sessions' && isListenerRunning(server)) server.child.kill(signal);
}

function isGone(server: RunningSshd, target: SshdKillTarget): boolean {
  const listenerGone = target === 'sessions' || !isListenerRunning(server);
  return listenerGone && (target === 'listener' || findSessionPids(server).length === 0);
}

async function waitUntilGone(server: RunningSshd, target: SshdKillTarget, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isGone(server, target)) return true;
    await sleep(READY_POLL_MS);
  }
  return false;
}

// Ends every session process, then the listener, escalating to SIGKILL after a grace period.
// Sessions go first so that the listener still reaps its children, because PID 1 in a container
// may never reap orphans, which then stay as zombies.
async function terminateServer(server: RunningSshd): Promise<void> {
  if (!runningServers.has(server)) return;
  signalServer(server, 'SIGTERM', 'sessions');
  await waitUntilGone(server, 'sessions', STOP_GRACE_MS);
  signalServer(server, 'SIGTERM', 'all');
  if (!(await waitUntilGone(server, 'all', STOP_GRACE_MS))) {
    signalServer(server, 'SIGKILL', 'all');
    if (!(await waitUntilGone(server, 'all', STOP_GRACE_MS))) {
      throw new Error(`sshd in ${server.dir} left processes after SIGKILL: ${findSessionPids(server).join(', ')}`);
    }
  }
  runningServers.delete(server);
}

async function stopServer(server: RunningSshd): Promise<void> {
  await terminateServer(server);
  await rm(server.dir, { recursive: true, force: true });
}

function killEverythingNow(): void {
  for (const server of runningServers) {
    signalServer(server, 'SIGKILL', 'all');
    rmSync(server.dir, { recursive: true, force: true });
  }
  runningServers.clear();
  for (const home of clientHomes) {
    stopClientDaemon(home);
    rmSync(home, { recursive: true, force: true });
  }
  clientHomes.clear();
}

// Registered when a test file imports this module, so each file cleans up after itself.
afterAll(async () => {
  await Promise.all([...runningServers].map(stopServer));
  for (const home of clientHomes) stopClientDaemon(home);
  await Promise.all([...clientHomes].map((home) => rm(home, { recursive: true, force: true })));
  clientHomes.clear();
});
process.on('exit', killEverythingNow);

// Vitest 4.1 ends its forks-pool worker process with SIGTERM, which skips 'exit' handlers. Each handler runs
// once and raises the signal again, so the next listener or the default action still applies.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEverythingNow();
    process.kill(process.pid, signal);
  });
}

function findSshd(): string {
  const found = SSHD_PATHS.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(`sshd not found at ${SSHD_PATHS.join(' or ')}. Install it: apt-get install -y openssh-server`);
  }
  return found;
}

async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('sshd helper: port 0 returned no port');
  return address.port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: 1_000 });
    const finish = (connected: boolean): void => {
      socket.destroy();
      resolve(connected);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

// sshd_config parses `SetEnv` arguments like a shell word list, so each entry is one quoted word.
function renderSetEnv(variables: Record<string, string>): string {
  const words = Object.entries(variables).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`setEnv: invalid variable name ${JSON.stringify(name)}`);
    if (/["\\\r\n]/.test(value)) {
      throw new Error(`setEnv: the value of ${name} contains a quote, backslash or line break, which sshd_config cannot hold`);
    }
    return `"${name}=${value}"`;
  });
  return `SetEnv ${words.join(' ')}`;
}

interface ConfigInput {
  port: number;
  sshdDir: string;
  authorizedKeysFile: string;
  setEnv: Record<string, string>;
}

function renderSshdConfig(input: ConfigInput): string {
  const lines = [
    `Port ${input.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(input.sshdDir, 'ssh_host_ed25519_key')}`,
    `PidFile ${path.join(input.sshdDir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${input.authorizedKeysFile}`,
    // StrictModes rejects authorized_keys below a world-writable folder such as /tmp.
    'StrictModes no',
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    // The variables that Debian 12's packaged sshd_config accepts from clients.
    'AcceptEnv LANG LC_*',
    'PrintMotd no',
    'MaxSessions 50',
    'MaxStartups 50',
    'LogLevel VERBOSE',
    renderSetEnv(input.setEnv),
  ];
  if (existsSync(SFTP_SERVER_PATH)) lines.push(`Subsystem sftp ${SFTP_SERVER_PATH}`);
  return `${lines.join('\n')}\n`;
}

type StartOutcome = 'ready' | 'port-taken' | 'exited' | 'timeout';

async function waitForListening(server: RunningSshd, port: number, log: () => string): Promise<StartOutcome> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isListenerRunning(server)) {
      return /Address already in use|Cannot bind any address/.test(log()) ? 'port-taken' : 'exited';
    }
    // The log line proves that this sshd, not another process, owns the port.
    if (log().includes(`Server listening on 127.0.0.1 port ${port}.`) && (await canConnect(port))) return 'ready';
    await sleep(READY_POLL_MS);
  }
  return 'timeout';
}

function nextWorkerId(): string {
  const index = defaultWorkerIdCount++;
  return `worker-${index < 26 ? String.fromCharCode(97 + index) : index + 1}`;
}

/** Starts a real OpenSSH `sshd -D -e` on a free 127.0.0.1 port and waits until it accepts connections. */
export async function startWorkerSshd(options: StartSshdOptions = {}): Promise<SshdWorker> {
  const sshd = findSshd();
  const workerId = options.workerId ?? nextWorkerId();
  if (!/^[A-Za-z0-9._-]+$/.test(workerId)) {
    throw new Error(`startWorkerSshd: invalid workerId ${JSON.stringify(workerId)}. Use letters, digits, '.', '_' and '-'.`);
  }
  await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(path.join(os.tmpdir(), 'rch-test-'));
  try {
    return await launchSshd({ sshd, workerId, dir, options });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

interface LaunchInput {
  sshd: string;
  workerId: string;
  dir: string;
  options: StartSshdOptions;
}

async function launchSshd({ sshd, workerId, dir, options }: LaunchInput): Promise<SshdWorker> {
  const sshdDir = path.join(dir, 'sshd');
  const remoteBase = options.remoteBase ?? path.join(dir, workerId);
  const authorizedKeysFile = path.join(sshdDir, 'authorized_keys');
  await mkdir(sshdDir);
  await mkdir(remoteBase, { recursive: true });
  await writeFile(authorizedKeysFile, '', { mode: 0o600 });
  const hostKey = path.join(sshdDir, 'ssh_host_ed25519_key');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `rch-test-${workerId}`, '-f', hostKey]);
  const hostKeyPublic = (await readFile(`${hostKey}.pub`, 'utf8')).trim();

  const marker = `${SESSION_MARKER_NAME}=${path.basename(dir)}`;
  const setEnv = { ...options.setEnv, [SESSION_MARKER_NAME]: path.basename(dir) };
  const configFile = path.join(sshdDir, 'sshd_config');
  let logText = '';
  const log = (): string => logText;

  for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
    const port = await findFreePort();
    await writeFile(configFile, renderSshdConfig({ port, sshdDir, authorizedKeysFile, setEnv }));

    logText = '';
    const child = spawn(sshd, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (logText += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (logText += chunk.toString()));
    child.once('error', (error) => (logText += `spawn failed: ${error.message}\n`));
    const server: RunningSshd = { child, marker, dir };
    runningServers.add(server);

    const outcome = await waitForListening(server, port, log);
    if (outcome === 'ready' && child.pid !== undefined) {
      return {
        workerId,
        host: '127.0.0.1',
        port,
        user: 'root',
        hostKeyPublic,
        remoteBase,
        authorizedKeysFile,
        dir,
        pid: child.pid,
        addAuthorizedKey: (line) => appendFile(authorizedKeysFile, `${line.trim()}\n`),
        log,
        listSessionPids: () => findSessionPids(server),
        stop: () => stopServer(server),
        kill: (signal = 'SIGKILL', target = 'all') => signalServer(server, signal, target),
      };
    }

    await terminateServer(server);
    if (outcome !== 'port-taken') {
      throw new Error(`sshd on 127.0.0.1:${port} did not start (${outcome}). Its output:\n${logText}`);
    }
  }
  throw new Error(`sshd found no free port in ${BIND_ATTEMPTS} attempts. Last output:\n${logText}`);
}

/** One `[[workers]]` entry as createClientHome writes it (camelCase here, snake_case in the file). */
export interface WorkerEntry {
  id: string;
  host: string;
  port: number;
  user: string;
  identityFile: string;
  remoteBase: string;
  totalSlots: number;
  priority: number;
  enabled?: boolean;
  tags?: string[];
}

export interface ClientHomeOptions {
  /** Write each worker's host key to `~/.ssh/known_hosts`. Default: true. */
  trust?: boolean;
  /** Fields to change per worker id. A field set to `undefined` is left out of workers.toml. */
  workerOverrides?: Record<string, Partial<WorkerEntry>>;
}

export interface ClientHome {
  home: string;
  /** The complete environment of a user with this home. Nothing is inherited from the test process. */
  env: NodeJS.ProcessEnv;
  /** Path of the written `$XDG_CONFIG_HOME/rch/workers.toml`. */
  workersToml: string;
  workers: WorkerEntry[];
  identityFile: string;
  knownHostsFile: string;
  cleanup(): Promise<void>;
}

const WORKER_TOML_KEYS: Record<keyof WorkerEntry, string> = {
  id: 'id',
  host: 'host',
  port: 'port',
  user: 'user',
  identityFile: 'identity_file',
  remoteBase: 'remote_base',
  totalSlots: 'total_slots',
  priority: 'priority',
  enabled: 'enabled',
  tags: 'tags',
};

function renderWorkersToml(workers: WorkerEntry[]): string {
  const tables = workers.map((worker) => {
    const table: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(worker)) {
      if (value !== undefined) table[WORKER_TOML_KEYS[key as keyof WorkerEntry]] = value;
    }
    return table;
  });
  return `${stringify({ workers: tables })}\n`;
}

function buildClientEnv(home: string): NodeJS.ProcessEnv {
  const pathEntries = [shimsDir, '/root/.cargo/bin', '/usr/local/bin', '/usr/bin', '/bin'];
  // bin/rch starts with `#!/usr/bin/env node`, so the node that runs the tests must be on PATH.
  const nodeDir = path.dirname(process.execPath);
  if (!pathEntries.includes(nodeDir)) pathEntries.splice(2, 0, nodeDir);

  const env: NodeJS.ProcessEnv = {
    HOME: home,
    USER: 'root',
    LOGNAME: 'root',
    LANG: 'C.UTF-8',
    PATH: pathEntries.join(':'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_RUNTIME_DIR: path.join(home, '.run'),
    // The toolchain stays where rustup installed it, so a temporary HOME keeps cargo working.
    RUSTUP_HOME: '/root/.rustup',
    CARGO_HOME: '/root/.cargo',
  };
  // Passed through so `DEBUG=rch:* npx vitest` shows the debug output of the processes under test.
  if (process.env.DEBUG) env.DEBUG = process.env.DEBUG;
  return env;
}

/** Stops the rch daemon that builds started for this home, so no daemon outlives its test file. */
function stopClientDaemon(home: string): void {
  try {
    const pid = Number(readFileSync(path.join(home, '.run', 'rch', 'rchd.pid'), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGTERM');
  } catch {
    // No daemon was started, or it has exited already.
  }
}

/**
 * Creates a temporary HOME whose SSH key each worker accepts, with `known_hosts` and workers.toml
 * for those workers. Workers get `total_slots = 4` and priorities 100, 90, 80, … in list order.
 */
export async function createClientHome(workers: SshdWorker[], options: ClientHomeOptions = {}): Promise<ClientHome> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'rch-home-'));
  clientHomes.add(home);
  const env = buildClientEnv(home);
  for (const variable of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'XDG_CACHE_HOME'] as const) {
    await mkdir(env[variable] as string, { recursive: true });
  }
  await mkdir(env.XDG_RUNTIME_DIR as string, { mode: 0o700 });

  const sshDir = path.join(home, '.ssh');
  await mkdir(sshDir, { mode: 0o700 });
  const identityFile = path.join(sshDir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rch-test-client', '-f', identityFile]);
  const publicKey = await readFile(`${identityFile}.pub`, 'utf8');
  for (const worker of workers) await worker.addAuthorizedKey(publicKey);

  const knownHostsFile = path.join(sshDir, 'known_hosts');
  if (options.trust ?? true) {
    const lines = workers.map((worker) => {
      const [keyType, keyData] = worker.hostKeyPublic.split(' ');
      return `[${worker.host}]:${worker.port} ${keyType} ${keyData}\n`;
    });
    await writeFile(knownHostsFile, lines.join(''), { mode: 0o600 });
  }

  const entries = workers.map((worker, index): WorkerEntry => ({
    id: worker.workerId,
    host: worker.host,
    port: worker.port,
    user: worker.user,
    identityFile,
    remoteBase: worker.remoteBase,
    totalSlots: 4,
    priority: 100 - 10 * index,
    ...options.workerOverrides?.[worker.workerId],
  }));
  const workersToml = path.join(env.XDG_CONFIG_HOME as string, 'rch', 'workers.toml');
  await mkdir(path.dirname(workersToml), { recursive: true });
  await writeFile(workersToml, renderWorkersToml(entries));

  return {
    home,
    env,
    workersToml,
    workers: entries,
    identityFile,
    knownHostsFile,
    cleanup: async () => {
      clientHomes.delete(home);
      stopClientDaemon(home);
      await rm(home, { recursive: true, force: true });
    },
  };
}
