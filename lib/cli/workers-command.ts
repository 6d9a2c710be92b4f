import path from 'node:path';
import { resolveSshTarget } from '../config/ssh-config.js';
import { loadWorkers, locateWorkersFile } from '../config/workers.js';
import { isRchError } from '../errors.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { appendKnownHost, checkHostKey, fingerprintKey, readKeyType } from '../ssh/known-hosts.js';
import { findWorker, formatTable, parseCommandArgs, type CommandContext } from './command-args.js';
import { runAddCommand, runEnableCommand, runRemoveCommand } from './workers-edit-command.js';
import { runDrainCommand } from './workers-drain-command.js';
import { runGcCommand } from './workers-gc-command.js';
import { runProbeCommand } from './workers-probe-command.js';
import { runSetupCommand } from './workers-setup-command.js';

export type WorkersCommandContext = CommandContext;

const USAGE = `usage: rch workers <subcommand>

subcommands:
  list [--json]                 show the workers from workers.toml and the SSH endpoint each resolves to
  add ID --host HOST [options]  add a worker to workers.toml; options: --user, --port, --identity-file,
                                --slots (total_slots), --priority, --remote-base, --tag (repeatable),
                                --disabled, --json
  remove ID [--json]            remove a worker from workers.toml
  trust ID                      connect to worker ID and add its host key to rch's known_hosts
  probe [ID|--all] [--json]     check reachability, round-trip time, cores, memory, disk and toolchains
  setup ID|--all [--json]       install the worker agent and this project's rust-toolchain with rustup
  enable ID [--json]            set enabled = true in workers.toml and end a drain
  disable ID [--json]           set enabled = false in workers.toml; running builds finish
  drain ID [--wait] [--json]    send no new builds from this machine; --wait returns once none runs
  gc ID|--all [--dry-run] [--json]
                                remove least recently built projects beyond gc_max_gib and gc_max_age_days
`;

type Subcommand = (args: string[], context: CommandContext) => Promise<number>;

const SUBCOMMANDS: Record<string, Subcommand> = {
  list: (args, context) => {
    const { values } = parseCommandArgs(args, { json: { type: 'boolean' } }, { min: 0, max: 0 });
    return listWorkers(context, values.json === true);
  },
  trust: (args, context) => {
    const { positionals } = parseCommandArgs(args, {}, { min: 1, max: 1 });
    return trustWorker(positionals[0]!, context);
  },
  add: runAddCommand,
  remove: runRemoveCommand,
  probe: runProbeCommand,
  setup: runSetupCommand,
  enable: (args, context) => runEnableCommand(args, context, true),
  disable: (args, context) => runEnableCommand(args, context, false),
  drain: runDrainCommand,
  gc: runGcCommand,
};

/**
 * Runs `rch workers ARGS` and returns the exit code: 2 for usage errors, which are printed with
 * the usage text. Configuration and connection errors are thrown.
 */
export async function runWorkersCommand(args: string[], context: CommandContext): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'help' || subcommand === '--help' || subcommand === '-h') {
    context.stdout.write(USAGE);
    return 0;
  }
  const run = subcommand === undefined ? undefined : SUBCOMMANDS[subcommand];
  if (run === undefined) {
    const problem = subcommand === undefined ? 'missing subcommand' : `unknown subcommand "${subcommand}"`;
    context.stderr.write(`rch workers: ${problem}\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, context);
  } catch (error) {
    if (!isRchError(error, 'RCH_USAGE')) throw error;
    context.stderr.write(`rch workers ${subcommand}: ${error.message}\n${USAGE}`);
    return 2;
  }
}

async function listWorkers(context: WorkersCommandContext, json: boolean): Promise<number> {
  const workers = await loadWorkers(context.paths, context.env);
  const rows = await Promise.all(
    workers.map(async (worker) => ({ worker, target: await resolveSshTarget(worker, context.paths, context.env) })),
  );

  if (json) {
    const entries = rows.map(({ worker, target }) => ({
      ...worker,
      user: worker.user ?? null,
      port: worker.port ?? null,
      identityFile: worker.identityFile ?? null,
      endpoint: { user: target.user, hostname: target.hostname, port: target.port },
    }));
    context.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    context.stdout.write(`No workers configured. Add a [[workers]] table to ${locateWorkersFile(context.paths)}.\n`);
    return 0;
  }

  const header = ['ID', 'ENDPOINT', 'SLOTS', 'PRIORITY', 'ENABLED', 'TAGS'];
  const table = rows.map(({ worker, target }) => [
    worker.id,
    `${target.user}@${target.hostname}:${target.port}`,
    String(worker.totalSlots),
    String(worker.priority),
    worker.enabled ? 'yes' : 'no',
    worker.tags.join(',') || '-',
  ]);
  context.stdout.write(formatTable([header, ...table]));
  return 0;
}

/**
 * Connects to the worker and stores its host key in rch's own known_hosts file. A key that is
 * already trusted changes nothing. A changed or revoked key makes the connection fail, so
 * nothing is stored, and the error explains how to remove the old entry.
 */
async function trustWorker(id: string, context: WorkersCommandContext): Promise<number> {
  const worker = findWorker(await loadWorkers(context.paths, context.env), id, context.paths);
  const knownHostsFile = path.join(context.paths.config, 'known_hosts');
  let offeredKey: Buffer | undefined;
  let connection: SshConnection | undefined;
  let connectError: unknown;
  try {
    connection = await connectWorker(worker, {
      paths: context.paths,
      env: context.env,
      acceptHostKey: (key) => {
        offeredKey = key;
      },
    });
  } catch (error) {
    // An authentication failure comes after the key exchange, in which the worker proved
    // possession of the key, so the key can still be stored. Any earlier failure stores nothing.
    if (offeredKey === undefined || !isRchError(error, 'RCH_SSH_AUTH')) throw error;
    connectError = error;
  }

  try {
    const target = connection?.target ?? (await resolveSshTarget(worker, context.paths, context.env));
    const endpoint = `worker "${worker.id}" (${target.user}@${target.hostname}:${target.port})`;
    const query = { host: target.hostname, port: target.port, hostKeyAlias: target.hostKeyAlias };
    if (offeredKey === undefined) {
      const check = checkHostKey(query, connection!.hostKey, target.knownHostsFiles);
      const entry = `${check.matchedFile} line ${check.line}`;
      const key = `${check.keyType} ${check.fingerprint}`;
      context.stdout.write(`${endpoint}: host key ${key} is already trusted (${entry}); nothing changed\n`);
      return 0;
    }

    context.stdout.write(`${endpoint} presents host key ${readKeyType(offeredKey)} ${fingerprintKey(offeredKey)}\n`);
    await appendKnownHost(knownHostsFile, query, offeredKey);
    context.stdout.write(`added it to ${knownHostsFile}\n`);
    if (connectError !== undefined) throw connectError;
    return 0;
  } finally {
    connection?.close();
  }
}
