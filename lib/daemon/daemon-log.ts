import fs from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import { RchError } from '../errors.js';

/** A log larger than this when the daemon starts is moved to `rchd.log.1`, replacing the older one. */
const MAX_LOG_BYTES = 5 * 1024 * 1024;

/** The daemon's log file: starts, stops, builds, and every error it catches without raising it. */
export interface DaemonLog {
  /** Writes a line; `message` takes util.format placeholders (%s, %d). */
  info(message: string, ...values: unknown[]): void;
  /** Writes a line for an error caught and not raised again, followed by the error. */
  error(error: unknown, message: string, ...values: unknown[]): void;
  close(): void;
}

function describe(error: unknown): string {
  if (error instanceof RchError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.stack ?? error.message;
  return String(error);
}

/** Opens `file` for appending, creating it 0600. Consecutive identical lines are counted, not repeated. */
export function openDaemonLog(file: string): DaemonLog {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    if (fs.statSync(file).size > MAX_LOG_BYTES) fs.renameSync(file, `${file}.1`);
  } catch {
    // No log yet.
  }
  let fd: number | undefined = fs.openSync(file, 'a', 0o600);
  let previous = '';
  let repeats = 0;

  const write = (level: 'info' | 'error', text: string): void => {
    const line = `${level} ${text}`;
    if (line === previous) {
      repeats++;
      return;
    }
    const stamp = `${new Date().toISOString()} rchd[${process.pid}]`;
    let output = '';
    if (repeats > 0) output += `${stamp} info the previous line repeated ${repeats} more times\n`;
    output += `${stamp} ${line}\n`;
    previous = line;
    repeats = 0;
    try {
      if (fd !== undefined) fs.writeSync(fd, output);
    } catch {
      // A full disk must not stop builds; the line is lost.
    }
  };

  return {
    info: (message, ...values) => write('info', format(message, ...values)),
    error: (error, message, ...values) => write('error', `${format(message, ...values)}: ${describe(error)}`),
    close: () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}
