import type { SshConnection } from '../ssh/connection.js';
import type { WorkerConfig } from '../config/types.js';
import { RESOLVE_BASE_SH } from '../remote/remote-path.js';
import { shCommand } from '../remote/shell-quote.js';
import { RchError } from '../errors.js';
import { AGENT_PATH_IN_BASE, readAgentSource } from './agent-source.js';
import { createLogger } from '../debug.js';

const log = createLogger('workers');

/**
 * Writes stdin to a temporary file beside the agent, then renames it into place unless the
 * installed file has the same content. A build running the old agent keeps its open copy.
 */
const INSTALL_SH = `${RESOLVE_BASE_SH}
agent=$base/${AGENT_PATH_IN_BASE}
mkdir -p "\${agent%/*}" || exit 1
temporary=$agent.tmp.$$
cat >"$temporary" || { rm -f "$temporary"; exit 1; }
if [ -f "$agent" ] && [ "$(sha256sum <"$agent")" = "$(sha256sum <"$temporary")" ]; then
  rm -f "$temporary"
  echo unchanged
  exit 0
fi
chmod 755 "$temporary" && mv -f "$temporary" "$agent" && echo installed`;

/** `installed` when the file was written, `unchanged` when the worker already had this agent. */
export type AgentInstallOutcome = 'installed' | 'unchanged';

/** Uploads this rch's agent to the worker over an open connection. Running it again changes nothing. */
export async function installAgent(connection: SshConnection, worker: WorkerConfig): Promise<AgentInstallOutcome> {
  const source = await readAgentSource();
  const result = await connection.capture(shCommand(INSTALL_SH, 'rch-install-agent', [worker.remoteBase]), source.text);
  const outcome = result.stdout.toString('utf8').trim();
  if (result.exitCode !== 0 || (outcome !== 'installed' && outcome !== 'unchanged')) {
    throw new RchError('RCH_AGENT', `worker "${worker.id}": installing the rch agent under ${worker.remoteBase} failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`, {
      hint: `check free space and permissions of remote_base (${worker.remoteBase}) on the worker`,
    });
  }
  log('worker %s: agent %s', worker.id, outcome);
  return outcome;
}
