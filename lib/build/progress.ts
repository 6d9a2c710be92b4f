/** The part of a terminal stream that the progress line needs; `process.stderr` fits. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** A transfer shows no line when it ends within this time, so fast builds print nothing. */
export const PROGRESS_DELAY_MS = 1_000;
/** How often a shown line is rewritten. */
export const PROGRESS_INTERVAL_MS = 200;

export interface TransferProgressOptions {
  /** What moves, such as `sending sources`. */
  label: string;
  totalFiles: number;
  totalBytes: number;
  /** Default: `process.stderr`. Nothing is written unless `isTTY` is true. */
  stream?: ProgressStream;
  delayMs?: number;
  intervalMs?: number;
  /** Milliseconds on a monotonic clock. Default: `performance.now`. */
  now?: () => number;
}

export interface TransferProgress {
  /** Sets the files and content bytes done so far; the line shows them at its next rewrite. */
  update(files: number, bytes: number): void;
  /** Stops the timers and clears the line if one was shown. Later calls do nothing. */
  finish(): void;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Formats a byte count with binary units, one decimal above bytes: `0 B`, `1.5 KiB`, `12.0 MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** Renders the line without `\r`: `rch: sending sources: 3/10 files, 1.5/4.0 MiB, 2 s`. */
export function formatProgressLine(input: {
  label: string;
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
  elapsedMs: number;
}): string {
  const seconds = Math.floor(input.elapsedMs / 1000);
  const done = formatBytes(input.bytes);
  const total = formatBytes(input.totalBytes);
  const [doneValue, doneUnit] = done.split(' ');
  // `1.5 MiB/4.0 MiB` shortens to `1.5/4.0 MiB` when both have the same unit.
  const bytes = doneUnit === total.split(' ')[1] ? `${doneValue}/${total}` : `${done}/${total}`;
  return `rch: ${input.label}: ${input.files}/${input.totalFiles} files, ${bytes}, ${seconds} s`;
}

const SILENT: TransferProgress = { update: () => undefined, finish: () => undefined };

/**
 * Starts a progress line for one transfer. The line appears on a terminal only once the
 * transfer has taken `delayMs`, is rewritten in place with `\r`, never wraps, and is blanked
 * out by `finish`. On anything but a terminal it writes nothing.
 */
export function startTransferProgress(options: TransferProgressOptions): TransferProgress {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY !== true) return SILENT;
  const now = options.now ?? (() => performance.now());
  const startedAt = now();
  let files = 0;
  let bytes = 0;
  let shownLength = 0;
  let interval: NodeJS.Timeout | undefined;

  const render = (): void => {
    const line = formatProgressLine({ ...options, files, bytes, elapsedMs: now() - startedAt });
    // A line as wide as the terminal wraps, and `\r` then returns to the second row only.
    const width = Math.max((stream.columns ?? 80) - 1, 10);
    const fitted = line.length > width ? line.slice(0, width) : line;
    stream.write(`\r${fitted.padEnd(shownLength)}`);
    shownLength = fitted.length;
  };
  const delay = setTimeout(() => {
    render();
    interval = setInterval(render, options.intervalMs ?? PROGRESS_INTERVAL_MS);
    interval.unref();
  }, options.delayMs ?? PROGRESS_DELAY_MS);
  delay.unref();

  let finished = false;
  return {
    update(doneFiles, doneBytes) {
      files = doneFiles;
      bytes = doneBytes;
    },
    finish() {
      if (finished) return;
      finished = true;
      clearTimeout(delay);
      clearInterval(interval);
      if (shownLength > 0) stream.write(`\r${' '.repeat(shownLength)}\r`);
    },
  };
}
