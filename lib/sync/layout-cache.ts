import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readProjectLayout, type MetadataOptions, type ProjectLayout } from './cargo-metadata.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createLogger } from '../debug.js';

const log = createLogger('metadata');

const CACHE_VERSION = 1;
/** Coarse file system clocks may date a write up to this much before it happened. */
const RECENT_EDIT_MARGIN_MS = 1000;

/** Environment variables that change what `cargo metadata` returns. */
const LAYOUT_ENV = ['CARGO_TARGET_DIR', 'CARGO_BUILD_TARGET_DIR', 'CARGO_HOME', 'RUSTUP_TOOLCHAIN'];

interface CachedLayout {
  version: number;
  layout: ProjectLayout;
  /** Every file whose change could change the layout, with its mtime (absent files as null). */
  inputs: Record<string, number | null>;
}

/** The files cargo reads to find a project's layout: manifests, the lock file and config files. */
async function listLayoutInputs(layout: ProjectLayout, cwd: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const inputs = new Set<string>([path.join(layout.workspaceRoot, 'Cargo.lock')]);
  for (const root of layout.roots) inputs.add(path.join(root, 'Cargo.toml'));
  for (const start of [cwd, layout.workspaceRoot]) {
    for (let folder = start; ; folder = path.dirname(folder)) {
      inputs.add(path.join(folder, 'Cargo.toml'));
      inputs.add(path.join(folder, '.cargo', 'config.toml'));
      inputs.add(path.join(folder, '.cargo', 'config'));
      if (folder === path.dirname(folder)) break;
    }
  }
  if (env.CARGO_HOME) inputs.add(path.join(env.CARGO_HOME, 'config.toml'));
  return [...inputs].sort();
}

async function readMtimes(files: string[]): Promise<Record<string, number | null>> {
  const entries = await Promise.all(
    files.map(async (file): Promise<[string, number | null]> => {
      try {
        return [file, (await fs.stat(file)).mtimeMs];
      } catch {
        return [file, null];
      }
    }),
  );
  return Object.fromEntries(entries);
}

function cacheFileFor(cacheFolder: string, options: MetadataOptions): string {
  const key = createHash('sha256')
    .update(JSON.stringify([options.cwd, options.realCargo, options.cargoArgs, LAYOUT_ENV.map((name) => options.env[name] ?? null)]))
    .digest('hex')
    .slice(0, 24);
  return path.join(cacheFolder, 'layouts', `${key}.json`);
}

/**
 * Returns the project layout from the cache while no manifest, lock file or cargo config it
 * depends on changed, and runs `cargo metadata` otherwise. Saves one cargo run per build.
 */
export async function readProjectLayoutCached(options: MetadataOptions, cacheFolder: string): Promise<ProjectLayout> {
  const file = cacheFileFor(cacheFolder, options);
  try {
    const cached = JSON.parse(await fs.readFile(file, 'utf8')) as CachedLayout;
    if (cached.version === CACHE_VERSION) {
      const current = await readMtimes(Object.keys(cached.inputs));
      if (Object.entries(cached.inputs).every(([input, mtime]) => current[input] === mtime)) return cached.layout;
      log('layout cache of %s is out of date', options.cwd);
    }
  } catch {
    // No cache yet, or an unreadable one: run cargo metadata.
  }

  const startedAt = Date.now();
  const layout = await readProjectLayout(options);
  const inputs = await readMtimes(await listLayoutInputs(layout, options.cwd, options.env));
  // A manifest edited while cargo ran may not be reflected in the layout, so it is not cached.
  // Cargo.lock is exempt: cargo metadata writes it itself when it is missing or out of date.
  const lock = path.join(layout.workspaceRoot, 'Cargo.lock');
  const editedDuringRun = Object.entries(inputs).some(
    ([input, mtime]) => input !== lock && mtime !== null && mtime >= startedAt - RECENT_EDIT_MARGIN_MS,
  );
  if (editedDuringRun) return layout;
  const entry: CachedLayout = { version: CACHE_VERSION, layout, inputs };
  await writeFileAtomic(file, JSON.stringify(entry), { mode: 0o600 }).catch((error: unknown) =>
    log('cannot write the layout cache %s: %s', file, error),
  );
  return layout;
}
