import micromatch from 'micromatch';

/** Variables forwarded to the worker's cargo unless listed in NEVER_FORWARDED. */
export const FORWARDED_PATTERNS = [
  'RUSTFLAGS',
  'RUSTDOCFLAGS',
  'CARGO_BUILD_*',
  'CARGO_PROFILE_*',
  'CARGO_TERM_*',
  'RUST_BACKTRACE',
  'RUST_LOG',
];

/**
 * Never forwarded, whatever the project adds: local folders mean nothing on the worker, and
 * rch's own settings are for this machine. `CARGO_BUILD_TARGET_DIR` is another spelling of
 * the target directory, which rch sets on the worker itself.
 */
const NEVER_FORWARDED = ['CARGO_HOME', 'CARGO_TARGET_DIR', 'CARGO_BUILD_TARGET_DIR', 'RCH_*'];

/** Picks the variables of `env` that the worker's cargo should see. */
export function selectForwardedEnv(env: NodeJS.ProcessEnv, projectPatterns: string[]): Record<string, string> {
  const patterns = [...FORWARDED_PATTERNS, ...projectPatterns];
  const selected: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (micromatch.isMatch(name, NEVER_FORWARDED)) continue;
    if (micromatch.isMatch(name, patterns)) selected[name] = value;
  }
  return selected;
}
