// Summaries and formatting of benchmark samples.

/** Runs per measured case, unless `--runs N` or BENCH_RUNS sets another count. */
export const DEFAULT_RUNS = 5;

/** min, median and max of `samples` (the median of an even count is the mean of the middle two). */
export function summarize(samples) {
  const values = samples.filter((value) => typeof value === 'number' && Number.isFinite(value)).sort((a, b) => a - b);
  if (values.length === 0) return { n: 0, min: NaN, median: NaN, max: NaN };
  const middle = Math.floor(values.length / 2);
  const median = values.length % 2 === 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
  return { n: values.length, min: values[0], median, max: values[values.length - 1] };
}

export function formatMs(ms) {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatValue(value, unit) {
  if (unit === 'bytes') return formatBytes(value);
  if (unit === 'ratio') return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
  if (unit === 'count') return Number.isFinite(value) ? String(value) : 'n/a';
  if (unit === 'MB') return Number.isFinite(value) ? `${value.toFixed(0)} MB` : 'n/a';
  return formatMs(value);
}

/** Builds a result row: a label, its unit and the summary of its samples. */
export function row(label, unit, samples) {
  return { label, unit, ...summarize(samples) };
}

/** Builds a target check whose `met` is true, false, or null when the figure could not be measured. */
export function target(goal, figure, met, note = '') {
  return { goal, figure, met: Number.isFinite(figure) || typeof figure === 'string' ? met : null, note };
}

/**
 * Collects the durations of the phase `name` from rch timing objects. A missing phase is NaN,
 * which the summaries leave out, because a build in the daemon reports only `process` until
 * the daemon sends its timings back.
 */
export function phaseSamples(timingsList, name) {
  return timingsList.map((timings) => timings.phasesMs[name] ?? NaN);
}

/** Collects the counter `name` from rch timing objects. A missing counter means nothing moved, so it counts as 0. */
export function countSamples(timingsList, name) {
  return timingsList.map((timings) => timings.counts[name] ?? 0);
}
