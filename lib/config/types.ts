/** One `[[workers]]` entry of workers.toml, after defaults are applied. */
export interface WorkerConfig {
  /** Unique name used on the command line (`rch workers probe ID`) and in state files. */
  id: string;
  /** Host name, address, or an alias from `~/.ssh/config`. */
  host: string;
  /** SSH user. Default: `User` from `~/.ssh/config`, else the local user name. */
  user: string | undefined;
  /** SSH port. Default: `Port` from `~/.ssh/config`, else 22. */
  port: number | undefined;
  /** Private key path (`~` expanded). Default: `IdentityFile` from `~/.ssh/config`, else ssh's defaults. */
  identityFile: string | undefined;
  /** Concurrent build slots the worker offers. Default: 8. */
  totalSlots: number;
  /** Higher is preferred. Default: 100. */
  priority: number;
  /** A disabled worker is never used. Default: true. */
  enabled: boolean;
  /** Free-form labels. Default: none. */
  tags: string[];
  /**
   * Folder on the worker that holds synced projects, each at `<remote_base>/<absolute local path>`.
   * A leading `~/` is the worker user's home. Default: `~/.cache/rch-worker`.
   */
  remoteBase: string;
  /**
   * `rch workers gc` removes the least recently built projects until the rest take at most this
   * many bytes on the worker. Set in workers.toml as `gc_max_gib` (GiB). Default: 50 GiB.
   */
  gcMaxBytes: number;
  /** `rch workers gc` removes every project not built for this many days. Default: 30. */
  gcMaxAgeDays: number;
}

/** Cargo subcommands whose slot count workers.toml's `[slots]` table sets. `nextest` means `nextest run`. */
export const SLOT_SUBCOMMANDS = ['build', 'check', 'clippy', 'doc', 'rustc', 'test', 'bench', 'nextest'] as const;
export type SlotSubcommand = (typeof SLOT_SUBCOMMANDS)[number];

/** The settings of workers.toml outside the `[[workers]]` tables, after defaults are applied. */
export interface FleetSettings {
  /**
   * Seconds a build waits for free slots when every usable worker is full. After that it builds
   * locally, or fails under `RCH_REQUIRE_REMOTE=1`. Set as `queue_timeout_secs`. Default: 300.
   */
  queueTimeoutSecs: number;
  /**
   * Slots one build requests, by subcommand, from `[slots]`. `'all'` takes every slot of the
   * worker. A request is capped at the worker's total_slots, and cargo's jobs are capped at the
   * slots granted. Defaults: 4 each, `doc` 2, `bench` all (so that benchmarks run alone).
   */
  slots: Record<SlotSubcommand, number | 'all'>;
}

/** The SSH endpoint of a worker once `~/.ssh/config` is applied. */
export interface SshTarget {
  /** The name to connect to (`HostName` from `~/.ssh/config`, else `host`). */
  hostname: string;
  port: number;
  user: string;
  /** Private keys to offer, in order. Missing default keys are left out. */
  identityFiles: string[];
  /**
   * Whether `identity_file` or `IdentityFile` was set explicitly. Connecting then fails if none of
   * the listed files exists. Some missing files in a longer list are skipped, as in OpenSSH.
   */
  identityExplicit: boolean;
  /**
   * Known-hosts files: rch's own `known_hosts` in its config folder first, then those from
   * `UserKnownHostsFile`/`GlobalKnownHostsFile`, else OpenSSH's defaults.
   */
  knownHostsFiles: string[];
  /** Value of `HostKeyAlias`, used in place of the host name for known_hosts look-ups. */
  hostKeyAlias: string | undefined;
  /** ConnectTimeout in milliseconds. */
  connectTimeoutMs: number;
}

/** Per-project settings from `rch.toml`, `.rchrc` and friends (found through cosmiconfig). */
export interface ProjectConfig {
  /** Extra gitignore-style patterns that are never sent to a worker. Default: none. */
  exclude: string[];
  /** Extra environment variable names (or `*` globs) forwarded to the worker. Default: none. */
  env: string[];
  /** Always build locally in this project. Default: false. */
  forceLocal: boolean;
  /** The file the settings came from, if any. */
  source: string | undefined;
}
