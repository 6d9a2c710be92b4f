import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  formatBytes,
  formatProgressLine,
  PROGRESS_DELAY_MS,
  PROGRESS_INTERVAL_MS,
  startTransferProgress,
  type ProgressStream,
} from '../../lib/build/progress.js';

/** A stream that records what is written; `isTTY` and `columns` as a terminal would report them. */
function createFakeStream(isTTY: boolean, columns = 100): ProgressStream & { output: string } {
  const stream = {
    isTTY,
    columns,
    output: '',
    write(text: string) {
      stream.output += text;
      return true;
    },
  };
  return stream;
}

describe('progress formatting', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [12 * 1024 * 1024, '12.0 MiB'],
    [3 * 1024 ** 3, '3.0 GiB'],
  ])('formats %d bytes as %s', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected);
  });

  it('shortens bytes that share a unit', () => {
    const line = formatProgressLine({
      label: 'sending sources',
      files: 3,
      totalFiles: 10,
      bytes: 1.5 * 1024 * 1024,
      totalBytes: 4 * 1024 * 1024,
      elapsedMs: 2_400,
    });
    expect(line).toBe('rch: sending sources: 3/10 files, 1.5/4.0 MiB, 2 s');
  });

  it('keeps both units when they differ', () => {
    const line = formatProgressLine({ label: 'fetching artifacts', files: 0, totalFiles: 2, bytes: 0, totalBytes: 2048, elapsedMs: 1_000 });
    expect(line).toBe('rch: fetching artifacts: 0/2 files, 0 B/2.0 KiB, 1 s');
  });
});

describe('progress line', () => {
  let clock = 0;
  const now = () => clock;
  const advance = (ms: number) => {
    clock += ms;
    vi.advanceTimersByTime(ms);
  };

  beforeEach(() => {
    clock = 0;
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('stays silent on a fast transfer', () => {
    const stream = createFakeStream(true);
    const progress = startTransferProgress({ label: 'sending sources', totalFiles: 2, totalBytes: 10, stream, now });
    progress.update(2, 10);
    advance(PROGRESS_DELAY_MS - 1);
    progress.finish();
    advance(5 * PROGRESS_DELAY_MS);

    expect(stream.output).toBe('');
  });

  it('stays silent without a terminal', () => {
    const stream = createFakeStream(false);
    const progress = startTransferProgress({ label: 'sending sources', totalFiles: 2, totalBytes: 10, stream, now });
    advance(10 * PROGRESS_DELAY_MS);
    progress.finish();

    expect(stream.output).toBe('');
  });

  it('appears after the delay and rewrites in place', () => {
    const stream = createFakeStream(true);
    const progress = startTransferProgress({ label: 'fetching artifacts', totalFiles: 4, totalBytes: 4096, stream, now });
    progress.update(1, 1024);
    advance(PROGRESS_DELAY_MS);

    expect(stream.output).toBe('\rrch: fetching artifacts: 1/4 files, 1.0/4.0 KiB, 1 s');

    stream.output = '';
    progress.update(4, 4096);
    advance(PROGRESS_INTERVAL_MS);
    expect(stream.output).toBe('\rrch: fetching artifacts: 4/4 files, 4.0/4.0 KiB, 1 s');
  });

  it('blanks the line when it ends', () => {
    const stream = createFakeStream(true);
    const progress = startTransferProgress({ label: 'sending sources', totalFiles: 1, totalBytes: 1, stream, now });
    advance(PROGRESS_DELAY_MS);
    const shown = stream.output.length - 1;
    stream.output = '';
    progress.finish();
    progress.finish();
    advance(10 * PROGRESS_INTERVAL_MS);

    expect(stream.output).toBe(`\r${' '.repeat(shown)}\r`);
  });

  it('pads a shorter line over a longer one', () => {
    const stream = createFakeStream(true);
    const progress = startTransferProgress({ label: 'sending sources', totalFiles: 100, totalBytes: 1, stream, now });
    progress.update(100, 0);
    advance(PROGRESS_DELAY_MS);
    const longLine = stream.output.slice(1);
    stream.output = '';
    progress.update(1, 0);
    advance(PROGRESS_INTERVAL_MS);
    progress.finish();

    const [, shortLine = ''] = stream.output.split('\r');
    expect(shortLine).toBe('rch: sending sources: 1/100 files, 0/1 B, 1 s  ');
    expect(shortLine).toHaveLength(longLine.length);
  });

  it('cuts the line to the terminal width', () => {
    const stream = createFakeStream(true, 30);
    const progress = startTransferProgress({ label: 'sending sources', totalFiles: 1, totalBytes: 1, stream, now });
    advance(PROGRESS_DELAY_MS);
    progress.finish();

    expect(stream.output.split('\r')[1]).toHaveLength(29);
  });
});
