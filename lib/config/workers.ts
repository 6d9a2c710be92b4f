import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { RchError } from '../errors.js';
import { describeTomlError, formatValue, suggestFieldName } from './config-errors.js';
import { readFleetSettings, SETTINGS_FIELDS } from './fleet-settings.js';
import type { RchPaths } from './paths.js';
import type { FleetSettings, WorkerConfig } from './types.js';

const WORKER_FIELDS = [
  'id',
  'host',
  'user',
  'port',
  'identity_file',
  'total_slots',
  'priority',
  'enabled',
  'tags',
  'remote_base',
  'gc_max_gib',
  'gc_max_age_days',
] as const;
const TOP_LEVEL_FIELDS = ['workers', ...SETTINGS_FIELDS] as const;

const DEFAULT_TOTAL_SLOTS = 8;
const DEFAULT_PRIORITY = 100;
const DEFAULT_REMOTE_BASE = '~/.cache/rch-worker';
const DEFAULT_GC_MAX_GIB = 50;
const DEFAULT_GC_MAX_AGE_DAYS = 30;
const BYTES_PER_GIB = 1024 ** 3;
const ID_PATTERN = /^[A-Za-z0-9._-]+$/;
// Host and user names reach ssh command lines elsewhere, so a leading dash could become an option.
const NAME_PATTERN = /^[^\s-][^\s]*$/;

/** Returns the path of workers.toml inside rch's config folder. */
export function locateWorkersFile(paths: RchPaths): string {
  return path.join(paths.config, 'workers.toml');
}

/** Contents of workers.toml: the workers and the settings outside their tables. */
export interface FleetConfig {
  workers: WorkerConfig[];
  settings: FleetSettings;
}

/**
 * Reads and validates `workers.toml`. A missing file means no workers. Every invalid value
 * raises RCH_CONFIG_INVALID naming the file, the worker, the field, the value and what is expected.
 */
export async function loadWorkers(paths: RchPaths, env: NodeJS.ProcessEnv = process.env): Promise<WorkerConfig[]> {
  return (await loadFleetConfig(paths, env)).workers;
}

/** Reads workers.toml like loadWorkers, with the settings outside the `[[workers]]` tables. */
export async function loadFleetConfig(paths: RchPaths, env: NodeJS.ProcessEnv = process.env): Promise<FleetConfig> {
  const file = locateWorkersFile(paths);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return parseWorkersToml('', file, paths.home || env.HOME || '');
    throw new RchError('RCH_CONFIG_READ', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: `check the permissions of ${file}`,
    });
  }
  return parseWorkersToml(text, file, paths.home || env.HOME || '');
}

/** Parses and validates the text of a workers.toml. `file` names it in error messages. */
export function parseWorkersToml(text: string, file: string, home: string): FleetConfig {
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    const description = describeTomlError(file, error) ?? `${file}: invalid TOML: ${(error as Error).message}`;
    throw new RchError('RCH_CONFIG_INVALID', description, { cause: error, hint: `fix the syntax in ${file}` });
  }

  const fail = (message: string): never => {
    throw new RchError('RCH_CONFIG_INVALID', `${file}: ${message}`, { hint: `edit ${file}` });
  };
  for (const key of Object.keys(document)) {
    if (!(TOP_LEVEL_FIELDS as readonly string[]).includes(key)) {
      fail(`unknown top-level field "${key}", ${suggestFieldName(key, TOP_LEVEL_FIELDS)}`);
    }
  }

  const entries = document.workers ?? [];
  if (!Array.isArray(entries)) {
    fail(`"workers" is ${formatValue(entries)}, expected [[workers]] tables`);
  }
  const settings = readFleetSettings(document, fail);
  const workers = (entries as unknown[]).map((entry, index) => validateWorker(entry, index, home, fail));

  const seen = new Map<string, number>();
  workers.forEach((worker, index) => {
    const first = seen.get(worker.id);
    if (first !== undefined) {
      const label = `entry ${index + 1} (id "${worker.id}")`;
      const problem = `is "${worker.id}", already used by entry ${first + 1}, expected a unique id`;
      fail(`[[workers]] ${label}: field "id" ${problem}`);
    }
    seen.set(worker.id, index);
  });
  return { workers, settings };
}

function validateWorker(entry: unknown, index: number, home: string, fail: (message: string) => never): WorkerConfig {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return fail(`[[workers]] entry ${index + 1} is ${formatValue(entry)}, expected a table`);
  }
  const table = entry as Record<string, unknown>;
  const label = typeof table.id === 'string' ? `entry ${index + 1} (id "${table.id}")` : `entry ${index + 1}`;
  const reject = (field: string, expected: string): never => {
    const found = table[field] === undefined ? 'is missing' : `is ${formatValue(table[field])}`;
    return fail(`[[workers]] ${label}: field "${field}" ${found}, expected ${expected}`);
  };

  for (const key of Object.keys(table)) {
    if (!(WORKER_FIELDS as readonly string[]).includes(key)) {
      fail(`[[workers]] ${label}: unknown field "${key}", ${suggestFieldName(key, WORKER_FIELDS)}`);
    }
  }

  const { id, host, user, port, identity_file, total_slots, priority, enabled, tags, remote_base } = table;
  const { gc_max_gib: gcMaxGib, gc_max_age_days: gcMaxAgeDays } = table;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    return reject('id', 'a string of letters, digits, ".", "_" or "-"');
  }
  if (typeof host !== 'string' || !NAME_PATTERN.test(host)) {
    return reject('host', 'a host name without spaces that does not start with "-"');
  }
  if (user !== undefined && (typeof user !== 'string' || !NAME_PATTERN.test(user))) {
    return reject('user', 'a user name without spaces that does not start with "-"');
  }
  if (port !== undefined && !isIntegerIn(port, 1, 65535)) return reject('port', 'an integer from 1 to 65535');
  if (identity_file !== undefined && (typeof identity_file !== 'string' || !isAbsoluteOrHome(identity_file))) {
    return reject('identity_file', 'an absolute path or one starting with "~/"');
  }
  if (total_slots !== undefined && !isIntegerIn(total_slots, 1, Number.MAX_SAFE_INTEGER)) {
    return reject('total_slots', 'a positive integer');
  }
  if (priority !== undefined && !Number.isSafeInteger(priority)) return reject('priority', 'an integer');
  if (enabled !== undefined && typeof enabled !== 'boolean') return reject('enabled', 'true or false');
  if (tags !== undefined && !(Array.isArray(tags) && tags.every((tag) => typeof tag === 'string' && tag !== ''))) {
    return reject('tags', 'an array of non-empty strings');
  }
  const remoteBase = remote_base === undefined ? DEFAULT_REMOTE_BASE : normalizeRemoteBase(remote_base);
  if (remoteBase === undefined) {
    const expected = 'an absolute path or one starting with "~/", other than "/", without ".." or control characters';
    return reject('remote_base', expected);
  }
  if (gcMaxGib !== undefined && !(typeof gcMaxGib === 'number' && Number.isFinite(gcMaxGib) && gcMaxGib > 0)) {
    return reject('gc_max_gib', 'a positive number of GiB');
  }
  if (gcMaxAgeDays !== undefined && !isIntegerIn(gcMaxAgeDays, 1, Number.MAX_SAFE_INTEGER)) {
    return reject('gc_max_age_days', 'a positive whole number of days');
  }

  return {
    id,
    host,
    user: user as string | undefined,
    port: port as number | undefined,
    identityFile: identity_file === undefined ? undefined : expandHome(identity_file as string, home),
    totalSlots: (total_slots as number | undefined) ?? DEFAULT_TOTAL_SLOTS,
    priority: (priority as number | undefined) ?? DEFAULT_PRIORITY,
    enabled: (enabled as boolean | undefined) ?? true,
    tags: (tags as string[] | undefined) ?? [],
    remoteBase,
    gcMaxBytes: Math.round(((gcMaxGib as number | undefined) ?? DEFAULT_GC_MAX_GIB) * BYTES_PER_GIB),
    gcMaxAgeDays: (gcMaxAgeDays as number | undefined) ?? DEFAULT_GC_MAX_AGE_DAYS,
  };
}

function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

function isAbsoluteOrHome(value: string): boolean {
  return path.isAbsolute(value) || value.startsWith('~/');
}

function expandHome(value: string, home: string): string {
  return value.startsWith('~/') ? path.join(home, value.slice(2)) : value;
}

/**
 * Returns remote_base with duplicate and trailing slashes removed (`~/` becomes `~`), or
 * undefined when it is invalid. The root folder is rejected because projects would then land
 * on their own absolute paths on the worker.
 */
function normalizeRemoteBase(value: unknown): string | undefined {
  if (typeof value !== 'string' || !(value.startsWith('/') || value.startsWith('~/'))) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(value)) return undefined;
  if (value.split('/').includes('..')) return undefined;
  const normalized = path.posix.normalize(value).replace(/\/+$/, '');
  return normalized === '' ? undefined : normalized;
}
