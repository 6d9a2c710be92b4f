import os from 'node:os';
import path from 'node:path';

/** Folders rch reads and writes on the local machine, following the XDG base directory spec. */
export interface RchPaths {
  /** `$XDG_CONFIG_HOME/rch`, default `~/.config/rch`: workers.toml and rch's own known_hosts. */
  config: string;
  /** `$XDG_STATE_HOME/rch`, default `~/.local/state/rch`: what each worker holds, logs. */
  state: string;
  /** `$XDG_CACHE_HOME/rch`, default `~/.cache/rch`: the local file index. */
  cache: string;
  /** The user's home folder, for `~/.ssh`. */
  home: string;
}

function xdgFolder(env: NodeJS.ProcessEnv, variable: string, fallback: string): string {
  const value = env[variable];
  // The XDG spec says a relative value is invalid and must be ignored.
  return value && path.isAbsolute(value) ? value : fallback;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): RchPaths {
  const home = env.HOME && path.isAbsolute(env.HOME) ? env.HOME : os.homedir();
  return {
    config: path.join(xdgFolder(env, 'XDG_CONFIG_HOME', path.join(home, '.config')), 'rch'),
    state: path.join(xdgFolder(env, 'XDG_STATE_HOME', path.join(home, '.local', 'state')), 'rch'),
    cache: path.join(xdgFolder(env, 'XDG_CACHE_HOME', path.join(home, '.cache')), 'rch'),
    home,
  };
}
