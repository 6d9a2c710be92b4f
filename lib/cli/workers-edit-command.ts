import fs from 'node:fs/promises';
import { locateWorkersFile } from '../config/workers.js';
import { RchError } from '../errors.js';
import { addWorkerEntry, removeWorkerEntry, setWorkerEnabled } from '../workers/edit-workers-file.js';
import { clearDrainMark, workerStateFolder } from '../workers/fleet-state.js';
import { parseCommandArgs, selectWorkers, writeJson, type CommandContext } from './command-args.js';

const ADD_OPTIONS = {
  host: { type: 'string' },
  user: { type: 'string' },
  port: { type: 'string' },
  'identity-file': { type: 'string' },
  slots: { type: 'string' },
  priority: { type: 'string' },
  'remote-base': { type: 'string' },
  tag: { type: 'string', multiple: true },
  disabled: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function parseInteger(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new RchError('RCH_USAGE', `--${option} needs a whole number, got "${value}"`);
  return Number(value);
}

/**
 * `rch workers add ID --host HOST [--user U] [--port N] [--identity-file F] [--slots N]
 * [--priority N] [--remote-base DIR] [--tag T]... [--disabled] [--json]`: appends a validated
 * `[[workers]]` table to workers.toml and leaves the rest of the file as it was.
 */
export async function runAddCommand(args: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, ADD_OPTIONS, { min: 1, max: 1 });
  if (values.host === undefined) throw new RchError('RCH_USAGE', 'missing --host HOST');
  const table = {
    id: positionals[0]!,
    host: values.host,
    user: values.user,
    port: parseInteger('port', values.port),
    identity_file: values['identity-file'],
    total_slots: parseInteger('slots', values.slots),
    priority: parseInteger('priority', values.priority),
    enabled: values.disabled ? false : undefined,
    tags: values.tag,
    remote_base: values['remote-base'],
  };
  const defined = Object.fromEntries(Object.entries(table).filter(([, value]) => value !== undefined)) as typeof table;
  const worker = await addWorkerEntry(context.paths, defined);

  if (values.json) writeJson(context.stdout, worker);
  else {
    context.stdout.write(`added worker "${worker.id}" to ${locateWorkersFile(context.paths)}\n`);
    context.stdout.write(`next: rch workers trust ${worker.id} && rch workers setup ${worker.id}\n`);
  }
  return 0;
}

/** `rch workers remove ID [--json]`: deletes the worker's table and rch's local state about it. */
export async function runRemoveCommand(args: string[], context: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, { min: 1, max: 1 });
  const [worker] = await selectWorkers(context, positionals[0], false);
  await removeWorkerEntry(context.paths, worker!.id);
  await fs.rm(workerStateFolder(context.paths, worker!), { recursive: true, force: true });

  if (values.json) writeJson(context.stdout, { removed: worker!.id });
  else context.stdout.write(`removed worker "${worker!.id}" from ${locateWorkersFile(context.paths)}\n`);
  return 0;
}

/**
 * `rch workers enable|disable ID [--json]`. Both set `enabled` in workers.toml, because that is
 * a lasting choice the user's file should show. Enabling also ends a drain.
 */
export async function runEnableCommand(args: string[], context: CommandContext, enabled: boolean): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } }, { min: 1, max: 1 });
  const [worker] = await selectWorkers(context, positionals[0], false);
  const fileChanged = await setWorkerEnabled(context.paths, worker!.id, enabled);
  const undrained = enabled ? await clearDrainMark(context.paths, worker!) : false;

  if (values.json) writeJson(context.stdout, { id: worker!.id, enabled, changed: fileChanged || undrained, undrained });
  else if (!fileChanged && !undrained) context.stdout.write(`worker "${worker!.id}" is already ${enabled ? 'enabled' : 'disabled'}\n`);
  else if (enabled) {
    const changes = [fileChanged ? `set enabled = true in ${locateWorkersFile(context.paths)}` : '', undrained ? 'ended the drain' : ''];
    context.stdout.write(`worker "${worker!.id}" enabled (${changes.filter(Boolean).join(', ')})\n`);
  } else {
    context.stdout.write(`worker "${worker!.id}" disabled: no new builds go there, running ones finish\n`);
  }
  return 0;
}
