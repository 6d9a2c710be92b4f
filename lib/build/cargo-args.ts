import path from 'node:path';
import { toRemotePath } from '../remote/remote-path.js';

/** Options after the subcommand whose value is a local path that cargo on the worker must see mapped. */
const PATH_OPTIONS = new Set(['--target-dir', '--manifest-path']);

/** Global options (before the subcommand) that also change what `cargo metadata` returns. */
const METADATA_GLOBAL_OPTIONS = new Set(['--config', '-Z', '-C']);

export interface ParsedBuildArgs {
  /** `--target-dir` resolved against the working directory, when given. */
  targetDir: string | undefined;
  /** Arguments for `cargo metadata` so that it sees the same project and configuration. */
  metadataArgs: string[];
}

/** Reads the options of a cargo command line that matter to rch. */
export function parseBuildArgs(args: string[], subcommandIndex: number, cwd: string): ParsedBuildArgs {
  const metadataArgs: string[] = [];
  let targetDir: string | undefined;

  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === '--') break;
    if (index === 0 && arg.startsWith('+')) {
      metadataArgs.push(arg);
      continue;
    }
    const [name, inlineValue] = splitOption(arg);
    const takesValue = PATH_OPTIONS.has(name) || METADATA_GLOBAL_OPTIONS.has(name);
    const value = inlineValue ?? (takesValue ? args[index + 1] : undefined);
    if (takesValue && inlineValue === undefined) index++;
    if (value === undefined) continue;

    if (name === '--target-dir' && index > subcommandIndex) targetDir = path.resolve(cwd, value);
    if (name === '--manifest-path' && index > subcommandIndex) metadataArgs.push('--manifest-path', value);
    if (METADATA_GLOBAL_OPTIONS.has(name)) metadataArgs.push(name, value);
  }
  return { targetDir, metadataArgs };
}

/** Splits `--name=value` and `-Zvalue` forms; other arguments come back without a value. */
function splitOption(arg: string): [string, string | undefined] {
  if (arg.startsWith('--')) {
    const equals = arg.indexOf('=');
    return equals === -1 ? [arg, undefined] : [arg.slice(0, equals), arg.slice(equals + 1)];
  }
  if (/^-[ZC]./.test(arg)) return [arg.slice(0, 2), arg.slice(2)];
  return [arg, undefined];
}

/**
 * Rewrites `--target-dir` and an absolute `--manifest-path` to their worker paths. Every other
 * argument, including everything after `--`, reaches cargo unchanged.
 */
export function mapArgsForWorker(args: string[], subcommandIndex: number, cwd: string, remoteBase: string): string[] {
  const mapped = [...args];
  for (let index = subcommandIndex + 1; index < mapped.length; index++) {
    const arg = mapped[index] as string;
    if (arg === '--') break;
    const [name, inlineValue] = splitOption(arg);
    if (!PATH_OPTIONS.has(name)) continue;
    const value = inlineValue ?? mapped[index + 1];
    if (value === undefined) continue;
    if (name === '--manifest-path' && !path.isAbsolute(value)) continue;
    const remote = toRemotePath(remoteBase, path.resolve(cwd, value));
    if (inlineValue !== undefined) mapped[index] = `${name}=${remote}`;
    else mapped[++index] = remote;
  }
  return mapped;
}
