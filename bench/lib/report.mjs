// Prints benchmark results for the terminal and as Markdown for BENCHMARKS.md.
import { formatValue } from './stats.mjs';

/** Four significant digits, so a ratio of 1.052 does not print as a passing 1.05. */
function formatFigure(figure) {
  return typeof figure === 'number' ? String(Number(figure.toPrecision(4))) : figure;
}

function verdict(check) {
  if (check.met === null) return 'not measured';
  return check.met ? 'met' : 'MISSED';
}

/** Plain text for the terminal. */
export function formatResultText(result) {
  const lines = [`${result.id} ${result.title}`];
  if (result.skipped) return `${lines[0]}\n  skipped: ${result.skipped}\n`;
  for (const entry of result.rows) {
    const figures = entry.n > 1
      ? `min ${formatValue(entry.min, entry.unit)}  median ${formatValue(entry.median, entry.unit)}  max ${formatValue(entry.max, entry.unit)}  (n=${entry.n})`
      : formatValue(entry.median, entry.unit);
    lines.push(`  ${entry.label.padEnd(52)} ${figures}`);
  }
  for (const check of result.targets) {
    lines.push(`  target ${check.goal}: ${formatFigure(check.figure)} -> ${verdict(check)}${check.note ? ` (${check.note})` : ''}`);
  }
  for (const note of result.notes) lines.push(`  note: ${note}`);
  return `${lines.join('\n')}\n`;
}

/** Formats a Markdown section with one table of figures and one of targets. */
export function formatResultMarkdown(result) {
  const lines = [`### ${result.id} ${result.title}`, ''];
  if (result.skipped) {
    lines.push(`Skipped: ${result.skipped}`, '');
    return lines.join('\n');
  }
  lines.push('| measurement | min | median | max | n |', '|---|---|---|---|---|');
  for (const entry of result.rows) {
    lines.push(
      `| ${entry.label} | ${formatValue(entry.min, entry.unit)} | ${formatValue(entry.median, entry.unit)} | ${formatValue(entry.max, entry.unit)} | ${entry.n} |`,
    );
  }
  if (result.targets.length > 0) {
    lines.push('', '| target | figure | result |', '|---|---|---|');
    for (const check of result.targets) {
      lines.push(`| ${check.goal} | ${formatFigure(check.figure)} | ${verdict(check)}${check.note ? `: ${check.note}` : ''} |`);
    }
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((note) => `- ${note}`));
  lines.push('', `Load average before and after: ${result.loadBefore?.join(' ')} / ${result.loadAfter?.join(' ')}.`, '');
  return lines.join('\n');
}
