import path from 'node:path';
import { execa } from 'execa';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('metadata');

/** Where a build's inputs and outputs live on the local machine. */
export interface ProjectLayout {
  /** Folder of the workspace's root Cargo.toml. */
  workspaceRoot: string;
  /** Resolved target directory (honours `--target-dir`, `CARGO_TARGET_DIR` and `build.target-dir`). */
  targetDir: string;
  /**
   * Folders to send to the worker: the workspace root and every path dependency outside it.
   * No folder in the list lies inside another.
   */
  roots: string[];
}

interface MetadataPackage {
  manifest_path: string;
  source: string | null;
}

interface Metadata {
  workspace_root: string;
  target_directory: string;
  packages: MetadataPackage[];
  workspace_members: string[];
}

export interface MetadataOptions {
  realCargo: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Arguments of the build that change what metadata returns (`+toolchain`, `--manifest-path`, `--config`, `-Z`). */
  cargoArgs: string[];
}

/** Drops every folder that lies inside another one of the list, and sorts the rest. */
export function outermostFolders(folders: string[]): string[] {
  const sorted = [...new Set(folders.map((folder) => path.resolve(folder)))].sort();
  const kept: string[] = [];
  for (const folder of sorted) {
    const parent = kept.at(-1);
    if (parent !== undefined && (folder === parent || folder.startsWith(parent + path.sep))) continue;
    kept.push(folder);
  }
  return kept;
}

async function runMetadata(options: MetadataOptions, extra: string[]): Promise<Metadata> {
  const args = [...options.cargoArgs, 'metadata', '--format-version', '1', ...extra];
  log('running %s %o in %s', options.realCargo, args, options.cwd);
  const result = await execa(options.realCargo, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
  });
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${result.exitCode}`;
    throw new RchError('RCH_METADATA', `cargo metadata failed in ${options.cwd}: ${detail}`, {
      hint: `run \`cargo metadata --format-version 1 ${extra.join(' ')}\` in ${options.cwd} to see the full error`,
    });
  }
  try {
    return JSON.parse(result.stdout) as Metadata;
  } catch (error) {
    throw new RchError('RCH_METADATA', 'cargo metadata printed output that is not JSON', { cause: error, kind: 'internal' });
  }
}

/**
 * Finds the workspace root, target directory and path dependencies of the project in `cwd`.
 * A full resolution lists path dependencies at any depth; when it fails offline (missing
 * registry crates), `--no-deps` still gives the workspace, and direct path dependencies of
 * its members come from their manifests.
 */
export async function readProjectLayout(options: MetadataOptions): Promise<ProjectLayout> {
  let metadata: Metadata;
  let pathPackages: string[];
  try {
    metadata = await runMetadata(options, ['--offline']);
    pathPackages = metadata.packages
      .filter((pkg) => pkg.source === null)
      .map((pkg) => path.dirname(pkg.manifest_path));
  } catch (error) {
    log('full metadata failed, retrying with --no-deps: %s', error);
    metadata = await runMetadata(options, ['--no-deps', '--offline']);
    const members = metadata.packages as Array<MetadataPackage & { dependencies?: Array<{ path?: string }> }>;
    pathPackages = members.flatMap((pkg) => [
      path.dirname(pkg.manifest_path),
      ...(pkg.dependencies ?? []).flatMap((dependency) => (dependency.path ? [dependency.path] : [])),
    ]);
  }
  const workspaceRoot = metadata.workspace_root;
  return {
    workspaceRoot,
    targetDir: metadata.target_directory,
    roots: outermostFolders([workspaceRoot, ...pathPackages]),
  };
}
