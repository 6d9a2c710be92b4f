/** Width of the progress bar when the terminal does not report one. */
const DEFAULT_COLUMNS = 80;

/**
 * Variables that make the worker's cargo decide colours and progress the way the local cargo
 * would: the worker has no terminal, so when local stderr is one, colour and the progress bar
 * are switched on explicitly. A `--color` argument or a `CARGO_TERM_*` setting of the user wins.
 */
export function terminalEnv(
  env: NodeJS.ProcessEnv,
  args: string[],
  stderr: { isTTY?: boolean; columns?: number } = process.stderr,
): Record<string, string> {
  if (!stderr.isTTY) return {};
  const result: Record<string, string> = {};
  const colorArg = args.some((arg) => arg === '--color' || arg.startsWith('--color='));
  if (!colorArg && env.CARGO_TERM_COLOR === undefined && env.NO_COLOR === undefined) result.CARGO_TERM_COLOR = 'always';
  if (env.CARGO_TERM_PROGRESS_WHEN === undefined) {
    // Cargo rejects `always` without a width, and a terminal may report 0 columns.
    result.CARGO_TERM_PROGRESS_WHEN = 'always';
    result.CARGO_TERM_PROGRESS_WIDTH = env.CARGO_TERM_PROGRESS_WIDTH ?? String(stderr.columns || DEFAULT_COLUMNS);
  }
  return result;
}
