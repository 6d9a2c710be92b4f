import type { SshConnection } from '../ssh/connection.js';
import type { FleetSettings, SlotSubcommand, WorkerConfig } from '../config/types.js';
import type { SlotRequest } from '../remote/run-remote-cargo.js';
import { runAgentJson, type AgentRunOptions } from './run-agent.js';

/** Slot report of `rch-wkr slots status`, counting the builds of every client of the worker. */
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

/** Returns the `[slots]` key of a canonical cargo subcommand. Other subcommands count as `build`. */
function slotKeyFor(subcommand: string | undefined): SlotSubcommand {
  if (subcommand === 'nextest run') return 'nextest';
  const known: readonly string[] = ['build', 'check', 'clippy', 'doc', 'rustc', 'test', 'bench'];
  return subcommand !== undefined && known.includes(subcommand) ? (subcommand as SlotSubcommand) : 'build';
}

/** Returns the slots a build of `subcommand` requests on `worker`: the `[slots]` setting, capped at total_slots. */
export function countRequestedSlots(subcommand: string | undefined, settings: FleetSettings, worker: WorkerConfig): number {
  const setting = settings.slots[slotKeyFor(subcommand)];
  const requested = setting === 'all' ? worker.totalSlots : setting;
  return Math.max(1, Math.min(requested, worker.totalSlots));
}

export function createSlotRequest(
  subcommand: string | undefined,
  settings: FleetSettings,
  worker: WorkerConfig,
  waitSecs: number,
): SlotRequest {
  return { count: countRequestedSlots(subcommand, settings, worker), total: worker.totalSlots, waitSecs };
}
