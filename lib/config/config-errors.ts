import { TomlError } from 'smol-toml';

/** Formats a parsed config value for an error message: strings quoted, arrays and tables as JSON. */
export function formatValue(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}

/** Levenshtein edit distance, for suggesting the intended field name. */
function measureEditDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Describes what to write in place of an unknown field: the closest known name when it is
 * near enough to be a typo, else the whole list.
 */
export function suggestFieldName(unknown: string, known: readonly string[]): string {
  const normalized = unknown.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = measureEditDistance(normalized, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const typoLimit = Math.max(2, Math.floor(unknown.length / 3));
  if (best !== undefined && bestDistance <= typoLimit) return `did you mean "${best}"?`;
  return `known fields are ${known.map((name) => `"${name}"`).join(', ')}`;
}

/** Builds `FILE:LINE:COLUMN: invalid TOML: REASON` plus smol-toml's excerpt of the lines around it. */
export function describeTomlError(file: string, error: unknown): string | undefined {
  if (!(error instanceof TomlError)) return undefined;
  // smol-toml's message is "Invalid TOML document: REASON", a blank line, then the excerpt.
  const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document:\s*/, '');
  return `${file}:${error.line}:${error.column}: invalid TOML: ${reason}\n\n${error.codeblock}`;
}
