import type { SshConnection } from '../ssh/connection.js';
import type { WorkerConfig } from '../config/types.js';
import { RESOLVE_BASE_SH } from '../remote/remote-path.js';
import { quoteShellWord, shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';
import { AGENT_PATH_IN_BASE, readAgentSource } from './agent-source.js';

/** Exit code and stderr line of the wrapper that runs the installed agent when the file is missing. */
const MISSING_EXIT_CODE = 127;
const MISSING_MARKER = 'rch-wkr-missing';

/** Runs `<remote_base>/.rch/bin/rch-wkr ARGS`, or reports the missing agent, for the worker's login shell. */
export function formatInstalledAgentCommand(remoteBase: string, args: readonly string[]): string {
  const script = [
    RESOLVE_BASE_SH,
    'shift',
    `agent=$base/${AGENT_PATH_IN_BASE}`,
    `[ -x "$agent" ] || { echo ${MISSING_MARKER} >&2; exit ${MISSING_EXIT_CODE}; }`,
    'exec "$agent" "$@"',
  ].join('\n');
  return shCommand(script, 'rch-wkr', [remoteBase, ...args]);
}

export interface AgentRunOptions {
  /**
   * Send this rch's agent on stdin (`sh -s`) instead of running the installed one, so that a
   * worker can be probed before `rch workers setup`. Only for commands that read no stdin.
   */
  streamed?: boolean;
}

/** Runs an agent command that prints one JSON document and returns it parsed. */
export async function runAgentJson<T>(
  connection: SshConnection,
  worker: WorkerConfig,
  args: string[],
  options: AgentRunOptions = {},
): Promise<T> {
  const fullArgs = [...args, '--base', worker.remoteBase];
  const result = options.streamed
    ? await connection.capture(['sh', '-s', '--', ...fullArgs].map(quoteShellWord).join(' '), (await readAgentSource()).text)
    : await connection.capture(formatInstalledAgentCommand(worker.remoteBase, fullArgs));
  const label = `rch-wkr ${args.slice(0, 2).join(' ')}`;

  if (result.exitCode === MISSING_EXIT_CODE && result.stderr.startsWith(MISSING_MARKER)) {
    throw new RchError('RCH_AGENT_MISSING', `worker "${worker.id}": the rch agent is not installed under ${worker.remoteBase}`, {
      hint: `rch workers setup ${worker.id}`,
    });
  }
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').at(-1) || `exit ${result.exitCode ?? result.exitSignal}`;
    throw new RchError('RCH_AGENT', `worker "${worker.id}": ${label} failed: ${detail}`, {
      hint: `check that the worker has flock and GNU coreutils, then run: rch workers setup ${worker.id}`,
    });
  }
  try {
    return JSON.parse(result.stdout.toString('utf8')) as T;
  } catch (error) {
    throw new RchError('RCH_AGENT', `worker "${worker.id}": ${label} printed output that is not JSON`, {
      cause: error,
      hint: `run rch workers setup ${worker.id} to install this version's agent`,
    });
  }
}
