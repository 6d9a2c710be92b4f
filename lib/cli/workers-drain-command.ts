import { setTimeout as sleep } from 'node:timers/promises';
import { RchError } from '../errors.js';
import { markDrained } from '../workers/fleet-state.js';
import { querySlotStatus, type SlotStatus } from '../workers/slot-status.js';
import { parseCommandArgs, selectWorkers, writeJson, type CommandContext } from './command-args.js';
import { runOnWorkers } from './run-on-workers.js';

/** Interval at which `drain --wait` queries the worker's slots until its builds have finished. */
const DRAIN_POLL_MS = 2_000;

/**
 * `rch workers drain ID [--wait] [--json]`: this machine sends no new builds to the worker,
 * while builds already running there finish. The mark lives in rch's state folder, not in
 * workers.toml, because it is a temporary state; `rch workers enable ID` ends it. With
 * `--wait` the command returns once no slot of the worker is in use, by any client.
 */
export async function runDrainCommand(args: string[], context: CommandContext): Promise<number> {
  const options = { wait: { type: 'boolean' }, json: { type: 'boolean' } } as const;
  const { values, positionals } = parseCommandArgs(args, options, { min: 1, max: 1 });
  const [worker] = await selectWorkers(context, positionals[0], false);
  const mark = await markDrained(context.paths, worker!);

  const [outcome] = await runOnWorkers([worker!], context, async (connection) => {
    let status: SlotStatus = await querySlotStatus(connection, worker!, { streamed: true });
    while (values.wait && status.inUse > 0) {
      await sleep(DRAIN_POLL_MS);
      status = await querySlotStatus(connection, worker!, { streamed: true });
    }
    return status;
  });
  if (outcome === undefined) throw new RchError('RCH_INTERNAL', 'drain: runOnWorkers returned no outcome for one worker');

  if (values.json) {
    writeJson(context.stdout, { id: worker!.id, drainedSince: mark.since, slots: outcome.ok ? outcome.result : null });
    return outcome.ok ? 0 : 1;
  }
  context.stdout.write(`worker "${worker!.id}" drained: no new builds from this machine go there (undo: rch workers enable ${worker!.id})\n`);
  if (outcome.ok) {
    const { inUse, total } = outcome.result;
    context.stdout.write(inUse === 0 ? 'no build is running there\n' : `${inUse} of its ${total} slots are held by running builds\n`);
    return 0;
  }
  context.stderr.write(`rch: cannot query the slots of worker "${worker!.id}": ${outcome.error.message}\n`);
  return 1;
}
