/**
 * Quotes one word for a POSIX shell so that it reaches the program verbatim: spaces, quotes,
 * `$(…)`, `;` and newlines included.
 */
export function quoteShellWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Builds a command line for the worker's login shell that runs `script` with `sh` and positional arguments. */
export function shCommand(script: string, name: string, args: readonly string[] = []): string {
  return ['sh', '-c', quoteShellWord(script), quoteShellWord(name), ...args.map(quoteShellWord)].join(' ');
}
