import { PassThrough } from 'node:stream';
import type { SshConnection } from '../ssh/connection.js';
import { PathRewriter } from './path-rewriter.js';
import { quoteShellWord, shCommand } from './shell-quote.js';
import { toRemotePath } from './remote-path.js';
import { createLogger } from '../debug.js';

const log = createLogger('run');

/** Exit code and first line the run script uses when the worker's copy is not what rch synced. */
const STALE_EXIT_CODE = 213;
const STALE_MESSAGE = 'rch-stale-worker-copy';
/** Seconds an interrupted remote cargo gets to exit before its process group is killed. */
const ABORT_GRACE_SECONDS = 5;
/** How long rch waits for the worker to report the exit of an interrupted build. */
const ABORT_WAIT_MS = (ABORT_GRACE_SECONDS + 5) * 1000;

export interface RemoteCargoOptions {
  connection: SshConnection;
  /** Resolved `remote_base` (no `~`). */
  remoteBase: string;
  projectKey: string;
  /** Marker token of the last sync; the run refuses to start when the worker holds another. */
  token: string;
  roots: string[];
  /** Local working directory; cargo runs in its worker twin. */
  cwd: string;
  /** Cargo's arguments after any rewriting of local paths. */
  args: string[];
  env: Record<string, string>;
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

export type RemoteCargoResult =
  | { status: 'exited'; exitCode: number }
  | { status: 'signalled'; signal: string }
  | { status: 'stale' };

/** Shell code run on the worker: checks the marker and roots, then execs cargo with the given environment. */
export function buildRunScript(options: Omit<RemoteCargoOptions, 'connection' | 'stdout' | 'stderr' | 'signal'>): string {
  const marker = quoteShellWord(`${options.remoteBase}/.rch/projects/${options.projectKey}`);
  const rootChecks = options.roots.map((root) => `[ -d ${quoteShellWord(toRemotePath(options.remoteBase, root))} ]`);
  const assignments = Object.entries(options.env).map(([name, value]) => quoteShellWord(`${name}=${value}`));
  const cwd = quoteShellWord(toRemotePath(options.remoteBase, options.cwd));
  return [
    `if [ "$(cat ${marker} 2>/dev/null)" != ${quoteShellWord(options.token)} ] || ! { ${rootChecks.join(' && ') || 'true'}; }; then`,
    `  echo ${STALE_MESSAGE} >&2; exit ${STALE_EXIT_CODE}`,
    'fi',
    `mkdir -p ${cwd} && cd ${cwd} || exit ${STALE_EXIT_CODE}`,
    'PATH="$HOME/.cargo/bin:$PATH"; export PATH',
    // Cargo runs in a process group of its own. A watcher reads stdin, which rch keeps open for
    // the whole build: end of input (rch aborted, or the connection dropped) interrupts that
    // group, then kills it. sshd ignores signal requests in root sessions, so this is the one
    // way to stop a remote build that works for every user.
    'exec 3<&0',
    `setsid env ${assignments.join(' ')} cargo "$@" </dev/null 3<&- &`,
    'cargo_pid=$!',
    `setsid sh -c 'cat >/dev/null; kill -INT -"$1" 2>/dev/null; sleep ${ABORT_GRACE_SECONDS}; kill -KILL -"$1" 2>/dev/null' rch-watch "$cargo_pid" <&3 >/dev/null 2>&1 &`,
    'watcher_pid=$!',
    'exec 3<&-',
    'wait "$cargo_pid"; status=$?',
    'kill -KILL -"$watcher_pid" 2>/dev/null',
    'exit "$status"',
  ].join('\n');
}

/**
 * Runs cargo on the worker with live output. Worker paths under `remote_base` are mapped back
 * to local paths in both streams. Resolves with cargo's own exit status, or `stale` when the
 * worker's copy must be synced again first.
 */
export async function runRemoteCargo(options: RemoteCargoOptions): Promise<RemoteCargoResult> {
  const script = buildRunScript(options);
  const command = shCommand(script, 'rch-cargo', options.args);
  const prefix = `${options.remoteBase.replace(/\/+$/, '')}/`;
  const stdout = new PathRewriter(prefix, '/', options.stdout);
  const stderr = new PathRewriter(prefix, '/', options.stderr);
  let stderrStart = '';
  let sawStale = false;

  log('running cargo %o on %s', options.args, options.connection.workerId);
  // Ending stdin is the abort request (see buildRunScript).
  const stdin = new PassThrough();
  let abortTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    stdin.end();
    abortTimer = setTimeout(() => options.connection.close(), ABORT_WAIT_MS);
    abortTimer.unref();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const execution = options.connection.exec(command, {
    stdin,
    stdout: (chunk) => stdout.push(chunk),
    stderr: (chunk) => {
      if (stderrStart.length < STALE_MESSAGE.length) {
        stderrStart += chunk.toString('utf8');
        if (stderrStart.startsWith(STALE_MESSAGE)) {
          sawStale = true;
          return;
        }
      }
      stderr.push(chunk);
    },
  });
  let result: Awaited<typeof execution>;
  try {
    result = await execution;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (abortTimer) clearTimeout(abortTimer);
    stdin.end();
    stdout.flush();
    stderr.flush();
  }

  if (result.exitCode === STALE_EXIT_CODE && sawStale) return { status: 'stale' };
  if (result.exitCode !== null) return { status: 'exited', exitCode: result.exitCode };
  return { status: 'signalled', signal: result.exitSignal ?? 'KILL' };
}

