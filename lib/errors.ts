/**
 * Stable error codes. A code names the family of failure so that callers and tests can branch
 * on it without parsing messages.
 */
export type RchErrorCode =
  | 'RCH_CONFIG_INVALID'
  | 'RCH_CONFIG_READ'
  | 'RCH_PROJECT_CONFIG_INVALID'
  | 'RCH_NO_WORKERS'
  | 'RCH_WORKER_UNKNOWN'
  | 'RCH_SSH_CONNECT'
  | 'RCH_SSH_TIMEOUT'
  | 'RCH_SSH_AUTH'
  | 'RCH_SSH_HOST_KEY_UNKNOWN'
  | 'RCH_SSH_HOST_KEY_CHANGED'
  | 'RCH_SSH_HOST_KEY_REVOKED'
  | 'RCH_SSH_IDENTITY'
  | 'RCH_SSH_CHANNEL'
  | 'RCH_REAL_CARGO_NOT_FOUND'
  | 'RCH_METADATA'
  | 'RCH_SYNC'
  | 'RCH_REMOTE_COMMAND'
  | 'RCH_ARTIFACTS'
  | 'RCH_ARTIFACT_UNSAFE'
  | 'RCH_LOCK'
  | 'RCH_DAEMON_UNAVAILABLE'
  | 'RCH_DAEMON_UNSAFE'
  | 'RCH_DAEMON_RUNNING'
  | 'RCH_DAEMON_LOST'
  | 'RCH_DAEMON_PROTOCOL'
  | 'RCH_AGENT'
  | 'RCH_AGENT_MISSING'
  | 'RCH_WORKER_BUSY'
  | 'RCH_WORKER_UNUSABLE'
  | 'RCH_TOOLCHAIN_INSTALL'
  | 'RCH_CONFIG_EDIT'
  | 'RCH_USAGE'
  | 'RCH_INTERNAL';

/**
 * Whether a failure is about reaching or using a worker (transport), about the user's input,
 * or a bug. 'capacity' means the worker was healthy but had no free build slot in time.
 */
export type RchErrorKind = 'transport' | 'user' | 'internal' | 'capacity';

export interface RchErrorOptions {
  /** The command or action that fixes the problem, shown on its own line. */
  hint?: string;
  cause?: unknown;
  kind?: RchErrorKind;
}

const TRANSPORT_CODES = new Set<RchErrorCode>([
  'RCH_SSH_CONNECT',
  'RCH_SSH_TIMEOUT',
  'RCH_SSH_AUTH',
  'RCH_SSH_HOST_KEY_UNKNOWN',
  'RCH_SSH_HOST_KEY_CHANGED',
  'RCH_SSH_HOST_KEY_REVOKED',
  'RCH_SSH_IDENTITY',
  'RCH_SSH_CHANNEL',
  'RCH_SYNC',
  'RCH_REMOTE_COMMAND',
  'RCH_ARTIFACTS',
  // The worker agent is missing or failed, so the worker cannot run builds right now.
  'RCH_AGENT',
  'RCH_AGENT_MISSING',
  // The daemon ended during a build, so the build may go to another worker or run locally.
  'RCH_DAEMON_LOST',
]);

function defaultKind(code: RchErrorCode): RchErrorKind {
  if (code === 'RCH_INTERNAL') return 'internal';
  if (code === 'RCH_WORKER_BUSY') return 'capacity';
  return TRANSPORT_CODES.has(code) ? 'transport' : 'user';
}

/** An expected failure with a stable code, the offending value in its message, and a hint. */
export class RchError extends Error {
  readonly code: RchErrorCode;
  readonly hint: string | undefined;
  readonly kind: RchErrorKind;

  constructor(code: RchErrorCode, message: string, options: RchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RchError';
    this.code = code;
    this.hint = options.hint;
    this.kind = options.kind ?? defaultKind(code);
  }
}

export function isRchError(error: unknown, code?: RchErrorCode): error is RchError {
  return error instanceof RchError && (code === undefined || error.code === code);
}

/** True when the error is a fault of the path to a worker, not of the build or the user's input. */
export function isTransportFault(error: unknown): boolean {
  return error instanceof RchError && error.kind === 'transport';
}

/** Formats an error for the terminal: `rch: message`, then the hint, then the cause chain. */
export function formatError(error: unknown): string {
  if (error instanceof RchError) {
    const lines = [`rch: ${error.message}`];
    if (error.hint) lines.push(`  hint: ${error.hint}`);
    if (error.kind === 'internal' && error.stack) lines.push(error.stack);
    return lines.join('\n');
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return [
    'rch: internal error (a bug in rch; please report it with the lines below)',
    detail,
  ].join('\n');
}

/** Extracts a short, single-line reason from any error, for the fallback line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}
