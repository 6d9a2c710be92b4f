import os from 'node:os';

/** Capabilities of a worker, as `rch-wkr caps` reports them. */
export interface WorkerCaps {
  /** `RCH_WKR_VERSION` of the agent that ran the command. */
  agentVersion: number;
  /** Hex sha256 of the agent file that ran the command, or null when it ran from stdin. */
  agentSha256: string | null;
  /** Hex sha256 of `<remote_base>/.rch/bin/rch-wkr`, or null when it is not installed. */
  installedAgentSha256: string | null;
  /** `uname -m`, such as `x86_64` or `aarch64`. */
  arch: string;
  /** `uname -s`, such as `Linux`. */
  os: string;
  kernel: string;
  cores: number;
  memoryBytes: number;
  /** remote_base with `~` resolved. */
  remoteBase: string;
  /** Free bytes on the file system of remote_base, or null when df failed. */
  diskFreeBytes: number | null;
  /** `cargo --version`, `rustc --version` and `rustup --version`, or null when missing. */
  cargo: string | null;
  rustc: string | null;
  /** The default toolchain's host triple from `rustc -vV`, such as `x86_64-unknown-linux-gnu`. */
  rustcHost: string | null;
  rustup: string | null;
  defaultToolchain: string | null;
  toolchains: Array<{ name: string; components: string[] }>;
}

/** Below these a worker still serves, but `rch workers probe` warns. */
export const RECOMMENDED_MIN_CORES = 4;
export const RECOMMENDED_MIN_MEMORY_BYTES = 8 * 1024 ** 3;

/** This machine's architecture in `uname -m` spelling (Node's os.machine() uses it too). */
export function readLocalArch(): string {
  return os.machine();
}

/** Warnings about a worker that can serve but is small. */
export function listCapacityWarnings(caps: WorkerCaps): string[] {
  const warnings: string[] = [];
  if (caps.cores < RECOMMENDED_MIN_CORES) warnings.push(`${caps.cores} cores, fewer than the recommended ${RECOMMENDED_MIN_CORES}`);
  if (caps.memoryBytes < RECOMMENDED_MIN_MEMORY_BYTES) {
    const gib = (caps.memoryBytes / 1024 ** 3).toFixed(1);
    warnings.push(`${gib} GiB of memory, less than the recommended ${RECOMMENDED_MIN_MEMORY_BYTES / 1024 ** 3} GiB`);
  }
  return warnings;
}

/** Reasons the worker cannot build for this machine at all, or none when it can. */
export function listBlockingProblems(caps: WorkerCaps, localArch: string): string[] {
  const problems: string[] = [];
  if (caps.arch !== localArch) problems.push(`architecture ${caps.arch} differs from this machine's ${localArch}`);
  if (caps.os !== 'Linux') problems.push(`operating system ${caps.os} is not Linux`);
  if (caps.cargo === null) problems.push('cargo not found on the worker (not on PATH, nor in ~/.cargo/bin)');
  return problems;
}

/**
 * Returns whether `toolchain` (a rust-toolchain.toml channel or a `+toolchain` name, such as `stable`,
 * `1.79.0` or `nightly-2024-05-01`) is installed. rustup names installed toolchains after the
 * channel plus the host triple.
 */
export function hasToolchain(caps: WorkerCaps, toolchain: string): boolean {
  return findToolchain(caps, toolchain) !== undefined;
}

/** Returns the entries of `components` that the installed `toolchain` lacks, all of them when it is missing. */
export function listMissingComponents(caps: WorkerCaps, toolchain: string, components: string[]): string[] {
  const installed = findToolchain(caps, toolchain);
  if (installed === undefined) return components;
  // rustup lists most components with the host triple (`clippy-x86_64-unknown-linux-gnu`), some without (`rust-src`).
  const names = new Set(installed.components);
  return components.filter((name) => !names.has(name) && !names.has(`${name}-${caps.rustcHost}`));
}

function findToolchain(caps: WorkerCaps, toolchain: string): WorkerCaps['toolchains'][number] | undefined {
  return caps.toolchains.find(
    (installed) => installed.name === toolchain || (caps.rustcHost !== null && installed.name === `${toolchain}-${caps.rustcHost}`),
  );
}
