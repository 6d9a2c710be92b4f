import path from 'node:path';
import type { Writable } from 'node:stream';
import type { RchPaths } from '../config/paths.js';
import { resolveSshTarget } from '../config/ssh-config.js';
import type { WorkerConfig } from '../config/types.js';
import { loadWorkers, locateWorkersFile } from '../config/workers.js';
import { isRchError, RchError } from '../errors.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { appendKnownHost, checkHostKey, fingerprintKey, readKeyType } from '../ssh/known-hosts.js';

export interface WorkersCommandContext {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
}

const USAGE = `usage: rch workers <subcommand>

subcommands:
  list [--json]   show the workers from workers.toml and the SSH endpoint each resolves to
  trust ID        connect to worker ID and add its host key to rch's known_hosts
`;

/** Runs `rch workers ARGS` and returns the exit code. Configuration and connection errors are thrown. */
export async function runWorkersCommand(args: string[], context: WorkersCommandContext): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'list' && (rest.length === 0 || (rest.length === 1 && rest[0] === '--json'))) {
    return listWorkers(context, rest[0] === '--json');
  }
  if (subcommand === 'trust' && rest.length === 1 && !rest[0]!.startsWith('-')) {
    return trustWorker(rest[0]!, context);
  }
  if (subcommand === 'help' || subcommand === '--help' || subcommand === '-h') {
    context.stdout.write(USAGE);
    return 0;
  }

  const problem =
    subcommand === undefined
      ? 'missing subcommand'
      : ['list', 'trust'].includes(subcommand)
        ? `invalid arguments for "${subcommand}": ${rest.join(' ') || '(none)'}`
        : `unknown subcommand "${subcommand}"`;
  context.stderr.write(`rch workers: ${problem}\n${USAGE}`);
  return 2;
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

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  return `${lines.join('\n')}\n`;
}

/**
 * Connects to the worker and stores its host key in rch's own known_hosts file. A key that is
 * already trusted changes nothing. A changed or revoked key makes the connection fail, so
 * nothing is stored, and the error explains how to remove the old entry.
 */
async function trustWorker(id: string, context: WorkersCommandContext): Promise<number> {
  const worker = await findWorker(id, context);
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

async function findWorker(id: string, context: WorkersCommandContext): Promise<WorkerConfig> {
  const workers = await loadWorkers(context.paths, context.env);
  const worker = workers.find((candidate) => candidate.id === id);
  if (worker !== undefined) return worker;
  const ids = workers.map((candidate) => candidate.id).join(', ');
  const known = workers.length > 0 ? `known workers: ${ids}` : 'no workers are configured';
  throw new RchError('RCH_WORKER_UNKNOWN', `no worker "${id}" in ${locateWorkersFile(context.paths)} (${known})`, {
    hint: 'run rch workers list to see the configured workers',
  });
}
