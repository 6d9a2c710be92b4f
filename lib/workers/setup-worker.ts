import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import type { SshConnection } from '../ssh/connection.js';
import { quoteShellWord, shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';
import { installAgent, type AgentInstallOutcome } from './install-agent.js';
import { runAgentJson } from './run-agent.js';
import { writeCachedCaps } from './probe-cache.js';
import type { ToolchainRequest } from './toolchain-file.js';
import { hasToolchain, listMissingComponents, type WorkerCaps } from './worker-caps.js';

const log = createLogger('workers');

/** Runs rustup the way the run script finds cargo: ~/.cargo/bin joins PATH unless it is there. */
const RUSTUP_SH = 'case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH"; export PATH ;; esac\nexec rustup "$@"';

export interface ToolchainSetup {
  channel: string;
  source: string;
  /** `present` when the toolchain and its components were installed already. */
  action: 'installed' | 'present';
  /** The rustup arguments run, when any. */
  rustupArgs: string[] | null;
}

export interface SetupReport {
  id: string;
  agent: AgentInstallOutcome;
  toolchain: ToolchainSetup | null;
}

/**
 * Installs this rch's agent and, when the project pins one, the toolchain and its components
 * with rustup (minimal profile). rustup's default toolchain is never changed. Running it again
 * changes nothing.
 */
export async function setupWorker(
  connection: SshConnection,
  worker: WorkerConfig,
  options: { paths: RchPaths; toolchain: ToolchainRequest | undefined },
): Promise<SetupReport> {
  const agent = await installAgent(connection, worker);
  let caps = await runAgentJson<WorkerCaps>(connection, worker, ['caps']);
  let toolchain: ToolchainSetup | null = null;

  const request = options.toolchain;
  if (request !== undefined) {
    const missing = listMissingComponents(caps, request.channel, request.components);
    const rustupArgs = !hasToolchain(caps, request.channel)
      ? ['toolchain', 'install', request.channel, '--profile', 'minimal', ...missing.flatMap((name) => ['-c', name])]
      : missing.length > 0
        ? ['component', 'add', '--toolchain', request.channel, ...missing]
        : null;
    if (rustupArgs !== null) {
      await runRustup(connection, worker, rustupArgs, caps);
      caps = await runAgentJson<WorkerCaps>(connection, worker, ['caps']);
    }
    toolchain = { channel: request.channel, source: request.source, action: rustupArgs === null ? 'present' : 'installed', rustupArgs };
  }
  await writeCachedCaps(options.paths, worker, caps);
  return { id: worker.id, agent, toolchain };
}

async function runRustup(connection: SshConnection, worker: WorkerConfig, args: string[], caps: WorkerCaps): Promise<void> {
  const command = `rustup ${args.map(quoteShellWord).join(' ')}`;
  if (caps.rustup === null) {
    throw new RchError('RCH_TOOLCHAIN_INSTALL', `worker "${worker.id}" has no rustup, so rch cannot run: ${command}`, {
      hint: 'install rustup on the worker (https://rustup.rs), then run rch workers setup again',
    });
  }
  log('worker %s: %s', worker.id, command);
  const result = await connection.capture(shCommand(RUSTUP_SH, 'rch-rustup', args));
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').slice(-3).join(' / ') || `exit ${result.exitCode ?? result.exitSignal}`;
    throw new RchError('RCH_TOOLCHAIN_INSTALL', `worker "${worker.id}": ${command} failed: ${detail}`, {
      hint: `run the same command on the worker to see its full output`,
    });
  }
}
