import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RchError } from '../errors.js';

/** The shim folder of this checkout (`<checkout>/shims`), resolved through links. */
function shimFolder(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return fs.realpathSync(path.resolve(here, '..', '..', 'shims'));
}

/**
 * Finds the real cargo: `RCH_REAL_CARGO` when set (the shim always sets it), else the first
 * executable `cargo` on PATH that is not rch's shim.
 */
export function findRealCargo(env: NodeJS.ProcessEnv): string {
  if (env.RCH_REAL_CARGO) return env.RCH_REAL_CARGO;
  let shims: string | undefined;
  try {
    shims = shimFolder();
  } catch {
    shims = undefined;
  }
  for (const folder of (env.PATH ?? '').split(path.delimiter)) {
    if (!folder) continue;
    const candidate = path.join(folder, 'cargo');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (shims && path.dirname(fs.realpathSync(candidate)) === shims) continue;
      return candidate;
    } catch {
      continue;
    }
  }
  throw new RchError('RCH_REAL_CARGO_NOT_FOUND', `no real cargo found on PATH (${env.PATH ?? ''})`, {
    hint: 'install Rust with rustup, or set RCH_REAL_CARGO to the path of cargo',
  });
}
