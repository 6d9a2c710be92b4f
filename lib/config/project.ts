import path from 'node:path';
import { cosmiconfig, type CosmiconfigResult } from 'cosmiconfig';
import { parse as parseToml } from 'smol-toml';
import { RchError } from '../errors.js';
import { describeTomlError, formatValue, suggestFieldName } from './config-errors.js';
import type { ProjectConfig } from './types.js';

/** File names searched in each folder from the start folder up to the workspace root, in this order. */
export const PROJECT_CONFIG_FILES = [
  'rch.toml',
  '.rch.toml',
  '.rchrc',
  '.rchrc.json',
  '.rchrc.yaml',
  '.rchrc.yml',
  'package.json',
] as const;

const PROJECT_FIELDS = ['exclude', 'env', 'force_local'] as const;
/** An environment variable name in which `*` stands for any run of name characters. */
const ENV_PATTERN = /^[A-Za-z_*][A-Za-z0-9_*]*$/;

const EMPTY_PROJECT_CONFIG: ProjectConfig = { exclude: [], env: [], forceLocal: false, source: undefined };

/**
 * Finds and validates the project settings closest to `startDir`, searching no higher than
 * `stopDir` (the workspace root). Without a settings file every field has its default.
 */
export async function loadProjectConfig(startDir: string, stopDir: string): Promise<ProjectConfig> {
  const start = path.resolve(startDir);
  const relative = path.relative(path.resolve(stopDir), start);
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  // A start folder outside the workspace is searched alone instead of climbing to the file system root.
  const stop = outside ? start : path.resolve(stopDir);

  // Each folder is searched on its own because cosmiconfig's climbing 'global' strategy also
  // reads (and for .js files, runs) config files from the user's global config folder.
  const explorer = cosmiconfig('rch', {
    searchPlaces: [...PROJECT_CONFIG_FILES],
    searchStrategy: 'none',
    cache: false,
    loaders: { '.toml': (_file: string, content: string) => parseToml(content) },
  });

  for (let folder = start; ; folder = path.dirname(folder)) {
    let result: CosmiconfigResult;
    try {
      result = await explorer.search(folder);
    } catch (error) {
      throw describeLoadError(error);
    }
    if (result !== null) return validateProjectConfig(result.config, result.filepath);
    if (folder === stop || path.dirname(folder) === folder) return { ...EMPTY_PROJECT_CONFIG };
  }
}

function describeLoadError(error: unknown): RchError {
  const file = (error as { filepath?: string }).filepath ?? 'a project config file';
  // cosmiconfig's JSON and YAML loaders prefix the message with "JSON Error in FILE:" and a line break.
  const reason = String((error as Error).message).replace(/^(JSON|YAML) Error in .*?:\n/, 'invalid $1: ');
  const message = describeTomlError(file, error) ?? `${file}: ${reason}`;
  return new RchError('RCH_PROJECT_CONFIG_INVALID', message, { cause: error, hint: `fix the syntax in ${file}` });
}

/** Checks the fields of one settings object read from `file` and applies defaults. */
export function validateProjectConfig(config: unknown, file: string): ProjectConfig {
  const fail = (message: string): never => {
    throw new RchError('RCH_PROJECT_CONFIG_INVALID', `${file}: ${message}`, { hint: `edit ${file}` });
  };
  if (config === null || config === undefined) return { ...EMPTY_PROJECT_CONFIG, source: file };
  if (typeof config !== 'object' || Array.isArray(config)) {
    return fail(`the settings are ${formatValue(config)}, expected a table of ${PROJECT_FIELDS.join(', ')}`);
  }

  const table = config as Record<string, unknown>;
  for (const key of Object.keys(table)) {
    if (!(PROJECT_FIELDS as readonly string[]).includes(key)) {
      fail(`unknown field "${key}", ${suggestFieldName(key, PROJECT_FIELDS)}`);
    }
  }
  const reject = (field: string, value: unknown, expected: string): never =>
    fail(`field "${field}" is ${formatValue(value)}, expected ${expected}`);

  const { exclude = [], env = [], force_local: forceLocal = false } = table;
  if (!Array.isArray(exclude)) return reject('exclude', exclude, 'an array of gitignore-style patterns');
  for (const pattern of exclude) {
    if (typeof pattern !== 'string' || pattern.trim() === '') {
      reject('exclude', pattern, 'each entry to be a non-empty gitignore-style pattern');
    }
  }
  if (!Array.isArray(env)) return reject('env', env, 'an array of environment variable names');
  for (const name of env) {
    if (typeof name !== 'string' || !ENV_PATTERN.test(name)) {
      const expected = 'each entry to be a variable name such as "RUSTFLAGS" or a pattern such as "MY_APP_*"';
      reject('env', name, expected);
    }
  }
  if (typeof forceLocal !== 'boolean') return reject('force_local', forceLocal, 'true or false');

  return { exclude: exclude as string[], env: env as string[], forceLocal, source: file };
}
