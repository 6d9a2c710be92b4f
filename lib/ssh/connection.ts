import ssh2 from 'ssh2';
import type { Client, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import type { RchPaths } from '../config/paths.js';
import { resolveSshTarget } from '../config/ssh-config.js';
import type { SshTarget, WorkerConfig } from '../config/types.js';
import { createLogger } from '../debug.js';
import { RchError } from '../errors.js';
import { planAuthentication, type AuthPlan } from './auth-methods.js';
import { checkHostKey, listKnownKeyTypes, type HostKeyQuery } from './known-hosts.js';
import {
  createAuthError,
  createChannelError,
  createHostKeyError,
  createTimeoutError,
  mapConnectError,
  type ConnectPhase,
  type Ssh2Error,
} from './ssh-errors.js';
import { runChannel, type ExecOptions, type ExecResult } from './run-channel.js';

export type { ExecOptions, ExecResult } from './run-channel.js';

const log = createLogger('ssh');

const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 3;
/** ssh2 1.17's default host key algorithms in its order. rch reorders this list but never extends it. */
const DEFAULT_HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** 'ready' after authentication, 'closed' once the socket is gone for any reason. */
export type ConnectionState = 'ready' | 'closed';

export interface SshConnection {
  readonly workerId: string;
  readonly target: SshTarget;
  readonly state: ConnectionState;
  /** The host key the worker presented (SSH wire format). */
  readonly hostKey: Buffer;
  /** Runs `command` (a shell command string for the remote login shell). */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Like exec but collects stdout (Buffer) and stderr (string). */
  capture(command: string, input?: Buffer | string): Promise<ExecResult & { stdout: Buffer; stderr: string }>;
  close(): void;
}

export interface ConnectOptions {
  paths: RchPaths;
  env?: NodeJS.ProcessEnv;
  /**
   * Called with a host key that no known_hosts file lists. The connection then goes on as if the
   * key were trusted. Changed and revoked keys are still rejected. The call comes before the
   * worker has proven possession of the key. That proof is complete once the connection is
   * ready, or when it fails later at authentication (RCH_SSH_AUTH).
   */
  acceptHostKey?: (key: Buffer) => void;
}

/**
 * Opens an authenticated SSH connection to `worker`, verifying its host key against the
 * known_hosts files. Failures are RchErrors of kind 'transport' naming the worker and endpoint.
 */
export async function connectWorker(worker: WorkerConfig, options: ConnectOptions): Promise<SshConnection> {
  const env = options.env ?? process.env;
  const target = await resolveSshTarget(worker, options.paths, env);
  const plan = await planAuthentication(worker.id, target, env);
  const { client, hostKey } = await openClient(worker.id, target, plan, options.acceptHostKey);
  return new WorkerConnection(worker.id, target, client, hostKey);
}

/**
 * Puts the key types already known for the host first, as OpenSSH does, so that a server with
 * several host keys presents the one the user trusted instead of one that looks unknown.
 */
function orderHostKeyAlgorithms(knownTypes: string[]): ServerHostKeyAlgorithm[] | undefined {
  if (knownTypes.length === 0) return undefined;
  // An ssh-rsa key signs with any of the three RSA algorithms.
  const rsaAlgorithms = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const preferred = knownTypes.flatMap((type) => (type === 'ssh-rsa' ? rsaAlgorithms : [type]));
  const supported = DEFAULT_HOST_KEY_ALGORITHMS.filter((algorithm) => preferred.includes(algorithm));
  supported.sort((a, b) => preferred.indexOf(a) - preferred.indexOf(b));
  return [...new Set([...supported, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}

function openClient(
  workerId: string,
  target: SshTarget,
  plan: AuthPlan,
  acceptHostKey: ConnectOptions['acceptHostKey'],
): Promise<{ client: Client; hostKey: Buffer }> {
  const query: HostKeyQuery = { host: target.hostname, port: target.port, hostKeyAlias: target.hostKeyAlias };
  const client = new ssh2.Client();
  let phase: ConnectPhase = 'connecting';
  let hostKey: Buffer | undefined;
  let hostKeyFailure: RchError | undefined;
  let authFailure: Ssh2Error | undefined;

  const verifyHostKey = (key: Buffer): boolean => {
    hostKey = key;
    try {
      const check = checkHostKey(query, key, target.knownHostsFiles);
      log('worker %s: host key %s %s is %s', workerId, check.keyType, check.fingerprint, check.verdict);
      if (check.verdict === 'trusted') return true;
      if (check.verdict === 'unknown' && acceptHostKey !== undefined) {
        acceptHostKey(key);
        return true;
      }
      hostKeyFailure = createHostKeyError(workerId, target, query, check);
    } catch (error) {
      const message = `ssh: host key verification of worker "${workerId}" failed`;
      hostKeyFailure = new RchError('RCH_INTERNAL', message, { cause: error });
    }
    return false;
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: RchError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeListener('ready', onReady);
      client.removeListener('close', onClose);
      if (error === undefined) {
        resolve({ client, hostKey: hostKey! });
        return;
      }
      log('worker %s: connection failed: %s', workerId, error.message);
      client.destroy();
      reject(error);
    };
    const onReady = (): void => settle();
    const onClose = (): void => {
      if (hostKeyFailure) settle(hostKeyFailure);
      else if (authFailure) settle(createAuthError(workerId, target, plan, authFailure));
      else settle(mapConnectError(new Error('the worker closed the connection'), workerId, target, phase, plan));
    };
    // ssh2's readyTimeout covers the same span, but this timer also covers a hanging name lookup.
    const timer = setTimeout(() => settle(createTimeoutError(workerId, target)), target.connectTimeoutMs);

    client.on('handshake', () => {
      phase = 'authenticating';
    });
    client.on('ready', onReady);
    client.on('close', onClose);
    client.on('error', (error: Ssh2Error) => {
      // After 'ready' the connection's own listener takes over.
      if (settled) return;
      log('worker %s: ssh2 %s error: %s', workerId, error.level ?? 'protocol', error.message);
      // Agent and per-key signing failures are followed by the next key, and the final
      // authentication failure is followed by 'close', so these wait for the outcome.
      if (error.level === 'agent') return;
      if (error.level === 'client-authentication') {
        authFailure = error;
        return;
      }
      if (hostKeyFailure) settle(hostKeyFailure);
      else settle(mapConnectError(error, workerId, target, phase, plan));
    });

    const algorithms = orderHostKeyAlgorithms(listKnownKeyTypes(query, target.knownHostsFiles));
    const config: ConnectConfig = {
      host: target.hostname,
      port: target.port,
      username: target.user,
      authHandler: plan.methods,
      hostVerifier: verifyHostKey,
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: KEEPALIVE_COUNT_MAX,
      ...(algorithms === undefined ? {} : { algorithms: { serverHostKey: algorithms } }),
      debug: log.enabled ? (message: string) => log('worker %s: %s', workerId, message) : undefined,
    };
    log('worker %s: connecting to %s@%s:%d', workerId, target.user, target.hostname, target.port);
    client.connect(config);
  });
}

/** An authenticated connection. Commands still running when the socket closes reject with RCH_SSH_CHANNEL. */
class WorkerConnection implements SshConnection {
  state: ConnectionState = 'ready';
  private lastError: Error | undefined;

  constructor(
    readonly workerId: string,
    readonly target: SshTarget,
    private readonly client: Client,
    readonly hostKey: Buffer,
  ) {
    client.on('error', (error: Ssh2Error) => {
      log('worker %s: connection error (%s): %s', workerId, error.level ?? 'protocol', error.message);
      this.lastError = error;
    });
    client.on('close', () => {
      log('worker %s: connection closed', workerId);
      this.state = 'closed';
    });
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.state === 'closed') {
      const error = createChannelError(this.workerId, this.target, 'the connection is already closed', this.lastError);
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      log('worker %s: exec %s', this.workerId, command);
      this.client.exec(command, (error: Error | undefined, channel: ClientChannel) => {
        if (error) {
          const problem = `cannot open a session channel: ${error.message}`;
          reject(createChannelError(this.workerId, this.target, problem, error));
          return;
        }
        const lost = (): RchError => {
          const problem = `the connection closed before the command reported an exit status: ${command.slice(0, 200)}`;
          return createChannelError(this.workerId, this.target, problem, this.lastError);
        };
        runChannel(channel, options, lost).then(resolve, reject);
      });
    });
  }

  async capture(command: string, input?: Buffer | string): Promise<ExecResult & { stdout: Buffer; stderr: string }> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const result = await this.exec(command, {
      stdin: input,
      stdout: (chunk) => stdout.push(chunk),
      stderr: (chunk) => stderr.push(chunk),
    });
    return { ...result, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') };
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.client.end();
  }
}
