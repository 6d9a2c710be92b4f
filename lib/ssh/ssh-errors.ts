import type { SshTarget } from '../config/types.js';
import { RchError } from '../errors.js';
import type { AuthPlan } from './auth-methods.js';
import { formatKnownHostName, type HostKeyCheck, type HostKeyQuery } from './known-hosts.js';

/** An error from ssh2, which marks where it arose in `level`. */
export type Ssh2Error = Error & { level?: string; code?: string | number };

/** The phase of a connection attempt. A disconnect by the server while 'authenticating' is an auth failure. */
export type ConnectPhase = 'connecting' | 'authenticating';

const SOCKET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the worker',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed temporarily',
  ETIMEDOUT: 'connection timed out',
};

/** `worker "ID" (user@host:port)`, the subject of every connection error message. */
export function describeEndpoint(workerId: string, target: SshTarget): string {
  return `worker "${workerId}" (${target.user}@${target.hostname}:${target.port})`;
}

/** Formats the OpenSSH command that tests the same login, for hints. */
function formatSshCommand(target: SshTarget): string {
  return `ssh -p ${target.port} ${target.user}@${target.hostname} true`;
}

/** Maps an ssh2 error raised before the connection was ready to an RchError of kind 'transport'. */
export function mapConnectError(
  error: Ssh2Error,
  workerId: string,
  target: SshTarget,
  phase: ConnectPhase,
  plan: AuthPlan,
): RchError {
  const subject = describeEndpoint(workerId, target);
  if (error.level === 'client-timeout') return createTimeoutError(workerId, target, error);
  if (error.level === 'client-authentication' || (phase === 'authenticating' && error.level === undefined)) {
    return createAuthError(workerId, target, plan, error);
  }
  if (error.level === 'client-socket' || error.level === 'client-dns') {
    const code = typeof error.code === 'string' ? error.code : undefined;
    const reason = (code && SOCKET_REASONS[code]) ?? error.message;
    const hint =
      code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `check "host" in workers.toml and HostName in ~/.ssh/config`
        : `check that sshd listens on ${target.hostname} port ${target.port}, then try: ${formatSshCommand(target)}`;
    return new RchError('RCH_SSH_CONNECT', `${subject}: cannot connect: ${reason}${code ? ` (${code})` : ''}`, {
      cause: error,
      hint,
    });
  }
  return new RchError('RCH_SSH_CONNECT', `${subject}: SSH handshake failed: ${error.message}`, {
    cause: error,
    hint: `try: ${formatSshCommand(target)}`,
  });
}

export function createTimeoutError(workerId: string, target: SshTarget, cause?: Error): RchError {
  const subject = describeEndpoint(workerId, target);
  return new RchError('RCH_SSH_TIMEOUT', `${subject}: timed out after ${target.connectTimeoutMs} ms while connecting`, {
    cause,
    hint: `check that the worker is reachable (${formatSshCommand(target)}), or raise ConnectTimeout in ~/.ssh/config`,
  });
}

export function createAuthError(workerId: string, target: SshTarget, plan: AuthPlan, cause: Error): RchError {
  const lines = [`${describeEndpoint(workerId, target)}: authentication failed for user "${target.user}"`];
  lines.push(`  keys offered: ${plan.offered.length > 0 ? plan.offered.join(', ') : 'none'}`);
  if (plan.skipped.length > 0) lines.push(`  skipped: ${plan.skipped.join(', ')}`);
  if (cause.message) lines.push(`  reason: ${cause.message}`);
  const copyCommand = `ssh-copy-id -p ${target.port} ${target.user}@${target.hostname}`;
  return new RchError('RCH_SSH_AUTH', lines.join('\n'), {
    cause,
    hint: `add your public key to ~${target.user}/.ssh/authorized_keys on ${target.hostname} (${copyCommand}), or set "identity_file" or "user" in workers.toml`,
  });
}

/** Builds the error that rejects a host key which is not trusted. */
export function createHostKeyError(
  workerId: string,
  target: SshTarget,
  query: HostKeyQuery,
  check: HostKeyCheck,
): RchError {
  const subject = describeEndpoint(workerId, target);
  const key = `${check.keyType} ${check.fingerprint}`;
  const oldEntry = `${check.matchedFile} line ${check.line}`;

  if (check.verdict === 'revoked') {
    return new RchError('RCH_SSH_HOST_KEY_REVOKED', `${subject}: host key ${key} is marked @revoked in ${oldEntry}`, {
      hint: 'the worker needs a new host key; ask its administrator, then run: rch workers trust ' + workerId,
    });
  }
  if (check.verdict === 'changed') {
    const message = [
      `WARNING: the host key of ${subject} has CHANGED.`,
      'Someone could be intercepting the connection (a man-in-the-middle attack),',
      'or the worker was reinstalled and got a new host key.',
      `The worker now presents the ${check.keyType} key ${check.fingerprint}.`,
      `The old ${check.keyType} key is listed in ${oldEntry}.`,
      'rch never accepts a changed host key on its own.',
    ].join('\n');
    const removeCommand = `ssh-keygen -R '${formatKnownHostName(query)}' -f ${check.matchedFile}`;
    return new RchError('RCH_SSH_HOST_KEY_CHANGED', message, {
      hint: `after verifying the new fingerprint with the worker's administrator, remove the old entry with: ${removeCommand} and run: rch workers trust ${workerId}`,
    });
  }
  // Host key files are named after the algorithm: ssh_host_ed25519_key, ssh_host_ecdsa_key, ssh_host_rsa_key.
  const keyFile = `/etc/ssh/ssh_host_${check.keyType.replace(/^ssh-|-.*$/g, '')}_key.pub`;
  return new RchError('RCH_SSH_HOST_KEY_UNKNOWN', `${subject}: host key ${key} is not in any known_hosts file; trust it with \`rch workers trust ${workerId}\``, {
    hint: `compare the fingerprint with the worker's (ssh-keygen -lf ${keyFile}), then run: rch workers trust ${workerId}`,
  });
}

/** Builds the error for a session channel that could not be opened or ended without an exit status. */
export function createChannelError(workerId: string, target: SshTarget, problem: string, cause?: unknown): RchError {
  return new RchError('RCH_SSH_CHANNEL', `${describeEndpoint(workerId, target)}: ${problem}`, {
    cause,
    hint: `check the worker's sshd and network, e.g. with: ${formatSshCommand(target)}`,
  });
}
