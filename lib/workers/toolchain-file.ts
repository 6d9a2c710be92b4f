import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { RchError } from '../errors.js';

/** The toolchain a build needs: from `+toolchain`, else the nearest rust-toolchain file. */
export interface ToolchainRequest {
  /** A rustup channel or toolchain name: `stable`, `1.79.0`, `nightly-2024-05-01`. */
  channel: string;
  /** Components the file lists, such as `clippy`, or none for `+toolchain`. */
  components: string[];
  /** The file it came from, or `+toolchain`. */
  source: string;
}

/** The toolchain file names rustup reads, in the order checked in each folder. */
const TOOLCHAIN_FILES = ['rust-toolchain', 'rust-toolchain.toml'];

/** Finds the toolchain that rustup would use for a command started in `startDir`, if a file or argument pins one. */
export async function findToolchainRequest(startDir: string, plusToolchain?: string): Promise<ToolchainRequest | undefined> {
  if (plusToolchain) return { channel: plusToolchain, components: [], source: `+${plusToolchain}` };
  for (let folder = path.resolve(startDir); ; folder = path.dirname(folder)) {
    for (const name of TOOLCHAIN_FILES) {
      const file = path.join(folder, name);
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch {
        continue;
      }
      return parseToolchainFile(text, file);
    }
    if (path.dirname(folder) === folder) return undefined;
  }
}

/** Parses `[toolchain] channel = …, components = […]`, or the legacy one-line form of `rust-toolchain`. */
export function parseToolchainFile(text: string, file: string): ToolchainRequest | undefined {
  const trimmed = text.trim();
  if (!trimmed.includes('[') && !trimmed.includes('=')) {
    return trimmed === '' ? undefined : { channel: trimmed, components: [], source: file };
  }
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    throw new RchError('RCH_PROJECT_CONFIG_INVALID', `${file}: invalid TOML: ${(error as Error).message.split('\n')[0]}`, {
      cause: error,
      hint: `fix ${file}; rustup reads the same file`,
    });
  }
  const table = document.toolchain as Record<string, unknown> | undefined;
  const channel = table?.channel;
  // A file with only `path = …` (a custom toolchain folder) names no channel rustup could install.
  if (typeof channel !== 'string' || channel === '') return undefined;
  const components = Array.isArray(table?.components) ? table.components.filter((name): name is string => typeof name === 'string') : [];
  return { channel, components, source: file };
}
