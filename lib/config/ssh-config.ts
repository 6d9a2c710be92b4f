import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import { createLogger } from '../debug.js';
import { RchError } from '../errors.js';
import type { RchPaths } from './paths.js';
import type { SshTarget, WorkerConfig } from './types.js';

const log = createLogger('ssh-config');

const DEFAULT_PORT = 22;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDENTITY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];
/** OpenSSH's limit on nested `Include` directives (readconf.c, OpenSSH 9.2). */
const MAX_INCLUDE_DEPTH = 16;

/**
 * Resolves the SSH endpoint of `worker` from workers.toml fields first, then `~/.ssh/config`,
 * then OpenSSH's defaults.
 */
export async function resolveSshTarget(
  worker: WorkerConfig,
  paths: RchPaths,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SshTarget> {
  const configFile = path.join(paths.home, '.ssh', 'config');
  const text = await readConfigText(configFile, paths.home, 0);
  const host = worker.host.toLowerCase();
  const localUser = readLocalUser(env);
  const parsed = SSHConfig.parse(text);
  lowercaseHostPatterns(parsed);
  // NOTE: `Match exec` is not evaluated, because ssh-config runs it without OpenSSH's %-token expansion.
  const computed = parsed.compute(
    worker.user === undefined ? { Host: host } : { Host: host, User: worker.user },
    { ignoreCase: true, matchExec: false },
  );
  const single = (name: string): string | undefined => {
    const value = computed[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const list = (name: string): string[] | undefined => {
    const value = computed[name];
    return value === undefined ? undefined : ([] as string[]).concat(value);
  };
  const invalid = (directive: string, value: string, expected: string): RchError => {
    const subject = `${directive} for host "${worker.host}" (worker "${worker.id}")`;
    return new RchError('RCH_CONFIG_INVALID', `${configFile}: ${subject} is "${value}", expected ${expected}`, {
      hint: `edit ${configFile}, or set the value in workers.toml`,
    });
  };

  const hostname = expandTokens(single('hostname') ?? host, { h: host, '%': '%' }, configFile);
  const user = worker.user ?? single('user') ?? localUser;
  const portText = single('port');
  const port = worker.port ?? (portText === undefined ? DEFAULT_PORT : Number(portText));
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid('Port', portText ?? '', 'an integer from 1 to 65535');
  }
  const timeoutText = single('connecttimeout');
  const timeoutSeconds = timeoutText === undefined ? undefined : Number(timeoutText);
  if (timeoutSeconds !== undefined && !(Number.isInteger(timeoutSeconds) && timeoutSeconds > 0)) {
    throw invalid('ConnectTimeout', timeoutText ?? '', 'a positive number of seconds');
  }

  const tokens: Record<string, string> = {
    '%': '%',
    d: paths.home,
    h: hostname,
    i: String(process.getuid?.() ?? ''),
    l: os.hostname(),
    L: os.hostname().split('.')[0] ?? '',
    n: worker.host,
    p: String(port),
    r: user,
    u: localUser,
  };
  // NOTE: relative paths resolve against the home folder. OpenSSH uses the working folder,
  // which for rch would change with wherever cargo runs.
  const toPath = (value: string): string =>
    path.resolve(paths.home, expandTokens(expandHome(value, paths.home), tokens, configFile));

  const configIdentities = (list('identityfile') ?? []).filter((value) => value.toLowerCase() !== 'none');
  let identityFiles: string[];
  if (worker.identityFile !== undefined) {
    identityFiles = [worker.identityFile];
  } else if (configIdentities.length > 0) {
    identityFiles = configIdentities.map(toPath);
  } else {
    const defaults = DEFAULT_IDENTITY_NAMES.map((name) => path.join(paths.home, '.ssh', name));
    identityFiles = defaults.filter((file) => existsSync(file));
  }
  const identityExplicit = worker.identityFile !== undefined || configIdentities.length > 0;

  const userKnownHosts = list('userknownhostsfile') ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
  const globalKnownHosts = list('globalknownhostsfile') ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
  const knownHostsFiles = [
    path.join(paths.config, 'known_hosts'),
    ...[...userKnownHosts, ...globalKnownHosts].filter((value) => value.toLowerCase() !== 'none').map(toPath),
  ];

  const target: SshTarget = {
    hostname,
    port,
    user,
    identityFiles,
    identityExplicit,
    knownHostsFiles: [...new Set(knownHostsFiles)],
    hostKeyAlias: single('hostkeyalias'),
    connectTimeoutMs: timeoutSeconds === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : timeoutSeconds * 1000,
  };
  log('worker %s resolves to %o', worker.id, target);
  return target;
}

/** Lowercases `Host` patterns in place: OpenSSH matches host names case-insensitively, ssh-config does not. */
function lowercaseHostPatterns(config: SSHConfig): void {
  for (const line of config) {
    if (line.type !== SSHConfig.DIRECTIVE || line.param.toLowerCase() !== 'host') continue;
    if (typeof line.value === 'string') line.value = line.value.toLowerCase();
    else for (const part of line.value) part.val = part.val.toLowerCase();
  }
}

function readLocalUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    // os.userInfo() throws when the uid has no passwd entry, as in some containers.
    return env.USER ?? env.LOGNAME ?? 'root';
  }
}

function expandHome(value: string, home: string): string {
  if (value === '~') return home;
  return value.startsWith('~/') ? path.join(home, value.slice(2)) : value;
}

/** Expands OpenSSH's `%x` tokens (ssh_config(5), TOKENS). An unsupported token raises RCH_CONFIG_INVALID. */
function expandTokens(value: string, tokens: Record<string, string>, configFile: string): string {
  return value.replace(/%(.)/g, (whole, letter: string) => {
    const replacement = tokens[letter];
    if (replacement !== undefined) return replacement;
    throw new RchError('RCH_CONFIG_INVALID', `${configFile}: token "${whole}" in "${value}" is not supported by rch`, {
      hint: `replace "${whole}" with its value in ${configFile}, or set the field in workers.toml`,
    });
  });
}

/**
 * Reads an ssh config file with each `Include` replaced by the text of the files it names.
 * Relative include paths are in `~/.ssh`, and `*` and `?` may appear in the last path segment.
 */
async function readConfigText(file: string, home: string, depth: number): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return '';
    throw new RchError('RCH_CONFIG_READ', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: `check the permissions of ${file}`,
    });
  }

  const lines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const include = /^\s*include(?:\s*=\s*|\s+)(.+)$/i.exec(line);
    if (include === null) {
      lines.push(line);
      continue;
    }
    if (depth + 1 > MAX_INCLUDE_DEPTH) {
      throw new RchError('RCH_CONFIG_INVALID', `${file}: Include directives nest more than ${MAX_INCLUDE_DEPTH} deep`, {
        hint: `remove the Include loop that reaches ${file}`,
      });
    }
    // NOTE: the included text is spliced in place, so a `Host` block that opens inside an
    // included file also covers the lines after the Include, unlike OpenSSH.
    for (const pattern of include[1]!.trim().split(/\s+/)) {
      const unquoted = pattern.replace(/^"(.*)"$/, '$1');
      const absolute = path.resolve(path.join(home, '.ssh'), expandHome(unquoted, home));
      for (const included of await expandIncludePattern(absolute)) {
        lines.push(await readConfigText(included, home, depth + 1));
      }
    }
  }
  return lines.join('\n');
}

async function expandIncludePattern(pattern: string): Promise<string[]> {
  const folder = path.dirname(pattern);
  const name = path.basename(pattern);
  if (!/[*?]/.test(name)) return [pattern];
  const escaped = name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const matcher = new RegExp(`^${escaped}$`);
  let entries: string[];
  try {
    entries = await fs.readdir(folder);
  } catch {
    log('Include %s: folder %s cannot be read, skipped', pattern, folder);
    return [];
  }
  // Like glob(3), which OpenSSH uses, a wildcard does not match a leading dot.
  const matches = entries.filter((entry) => matcher.test(entry) && (name.startsWith('.') || !entry.startsWith('.')));
  return matches.sort().map((entry) => path.join(folder, entry));
}
