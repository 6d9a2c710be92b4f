import type { SshConnection } from '../ssh/connection.js';
import type { FleetSettings, SlotSubcommand, WorkerConfig } from '../config/types.js';
import type { SlotRequest } from '../remote/run-remote-cargo.js';
import { runAgentJson, type AgentRunOptions } from './run-agent.js';

/** What `rch-wkr slots status` reports: slots held by builds from every client of the worker. */
export interface SlotStatus {
  total: number;
  inUse: number;
  /** Builds waiting for slots on the worker. */
  queued: number;
  /** The slots in use, each with the project key of its build and the Unix time it started. */
  busy: Array<{ slot: number; label: string; since: number | null }>;
}

/** Asks the worker agent which slots are in use; `streamed` works before the agent is installed. */
export function querySlotStatus(connection: SshConnection, worker: WorkerConfig, options: AgentRunOptions = {}): Promise<SlotStatus> {
  return runAgentJson<SlotStatus>(connection, worker, ['slots', 'status', String(worker.totalSlots)], options);
}

/** The `[slots]` key of a canonical cargo subcommand; other subcommands count as `build`. */
function slotKeyFor(subcommand: string | undefined): SlotSubcommand {
  if (subcommand === 'nextest run') return 'nextest';
  const known: readonly string[] = ['build', 'check', 'clippy', 'doc', 'rustc', 'test', 'bench'];
  return subcommand !== undefined && known.includes(subcommand) ? (subcommand as SlotSubcommand) : 'build';
}

/** The slots a build of `subcommand` asks for on `worker`: the `[slots]` setting, capped at total_slots. */
export function countRequestedSlots(subcommand: string | undefined, settings: FleetSettings, worker: WorkerConfig): number {
  const setting = settings.slots[slotKeyFor(subcommand)];
  const wanted = setting === 'all' ? worker.totalSlots : setting;
  return Math.max(1, Math.min(wanted, worker.totalSlots));
}

export function createSlotRequest(
  subcommand: string | undefined,
  settings: FleetSettings,
  worker: WorkerConfig,
  waitSecs: number,
): SlotRequest {
  return { count: countRequestedSlots(subcommand, settings, worker), total: worker.totalSlots, waitSecs };
}
