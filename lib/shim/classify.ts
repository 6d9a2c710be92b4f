// Decides whether a cargo command line goes to a worker or stays with the local cargo.
// shims/cargo applies the same rules in POSIX sh so that local commands never start node.
// The shared table in test/fixtures/classify-cases.json keeps the two in step.

export type CargoRoute = 'remote' | 'local';

export interface CargoInvocation {
  /** `remote` for the subcommands in REMOTE_SUBCOMMANDS, `local` for everything else. */
  route: CargoRoute;
  /**
   * The canonical subcommand: `build` for the alias `b`, `nextest run` for `nextest … run`, and
   * `nextest` for any other nextest command. Undefined when argv stops before a subcommand.
   */
  subcommand: string | undefined;
  /** The rustup toolchain of a leading `+toolchain` argument, without the `+`. */
  toolchain: string | undefined;
  /** Index in argv of the subcommand word (`nextest` for nextest commands), or -1 when there is none. */
  subcommandIndex: number;
}

/** Subcommands that compile, so a worker runs them. */
export const REMOTE_SUBCOMMANDS: ReadonlySet<string> = new Set([
  'build',
  'check',
  'test',
  'bench',
  'clippy',
  'doc',
  'rustc',
  'nextest run',
]);

/** The aliases built into cargo, as `cargo --list` prints them (cargo 1.95). */
export const CARGO_ALIASES: Readonly<Record<string, string>> = {
  b: 'build',
  c: 'check',
  d: 'doc',
  r: 'run',
  rm: 'remove',
  t: 'test',
};

const GLOBAL_FLAGS = new Set(['--verbose', '-q', '--quiet', '--locked', '--offline', '--frozen']);
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--color', '--config', '-Z', '-C']);
const ATTACHED_VALUE_PREFIXES = ['--color=', '--config=', '-Z', '-C'];

/**
 * Classifies cargo's arguments (argv without `cargo`) the way cargo's parser reads them: an optional
 * `+toolchain`, global options, then the subcommand. Any other option before the subcommand
 * (`--version`, `--help`, `--list`, `--explain`, or one cargo does not know) makes the command local.
 * A compile subcommand asking for `-h` or `--help` before `--` is local too, because cargo only
 * prints its help text then.
 */
export function classifyCargoArgs(argv: readonly string[]): CargoInvocation {
  const first = argv[0];
  const toolchain = first !== undefined && first.length > 1 && first.startsWith('+') ? first.slice(1) : undefined;
  const subcommandIndex = findSubcommandIndex(argv, toolchain === undefined ? 0 : 1);
  if (subcommandIndex === -1) {
    return { route: 'local', subcommand: undefined, toolchain, subcommandIndex };
  }

  const word = argv[subcommandIndex] as string;
  let subcommand = CARGO_ALIASES[word] ?? word;
  if (word === 'nextest') {
    const nextestIndex = findFirstWord(argv, subcommandIndex + 1);
    if (nextestIndex !== -1 && argv[nextestIndex] === 'run') subcommand = 'nextest run';
  }

  const remote = REMOTE_SUBCOMMANDS.has(subcommand) && !requestsHelp(argv, subcommandIndex + 1);
  return { route: remote ? 'remote' : 'local', subcommand, toolchain, subcommandIndex };
}

/** Returns the index of the first word after cargo's global options, or -1 on any other option. */
function findSubcommandIndex(argv: readonly string[], start: number): number {
  let index = start;
  while (index < argv.length) {
    const arg = argv[index] as string;
    if (!arg.startsWith('-')) return index;

    if (isVerboseFlag(arg) || GLOBAL_FLAGS.has(arg)) {
      index += 1;
    } else if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) {
      // A value-taking option as the last argument is a usage error, which cargo reports locally.
      if (index + 1 >= argv.length) return -1;
      index += 2;
    } else if (ATTACHED_VALUE_PREFIXES.some((prefix) => arg.startsWith(prefix) && arg.length > prefix.length)) {
      index += 1;
    } else {
      return -1;
    }
  }
  return -1;
}

/** `-v`, `-vv`, `-vvv` and longer: cargo counts the letters. */
function isVerboseFlag(arg: string): boolean {
  return /^-v+$/.test(arg);
}

function findFirstWord(argv: readonly string[], start: number): number {
  for (let index = start; index < argv.length; index += 1) {
    if (!(argv[index] as string).startsWith('-')) return index;
  }
  return -1;
}

/**
 * Options that need this machine: help text, `clippy --fix` (it edits the sources) and
 * `doc --open` (it starts a browser).
 */
const LOCAL_ONLY_OPTIONS = new Set(['-h', '--help', '--fix', '--open']);

/** True when a local-only option comes before the first `--`, which passes later arguments on. */
function requestsHelp(argv: readonly string[], start: number): boolean {
  for (let index = start; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    if (arg === '--') return false;
    if (LOCAL_ONLY_OPTIONS.has(arg)) return true;
  }
  return false;
}
