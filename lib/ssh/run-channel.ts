import type { ClientChannel } from 'ssh2';
import { createLogger } from '../debug.js';

const log = createLogger('ssh');

export interface ExecOptions {
  /** Data for the command's stdin. The end of input closes the channel's write side. Default: empty input. */
  stdin?: NodeJS.ReadableStream | Buffer | string;
  /** Receives stdout chunks as they arrive. */
  stdout?: (chunk: Buffer) => void;
  /**
   * Receives stdout through `pipe`, so a slow consumer pauses the channel and the SSH window
   * stops the worker's writes. The stream is ended after the last chunk. When it closes early,
   * the rest of the output is dropped so that the command can still run to its end.
   */
  stdoutStream?: NodeJS.WritableStream;
  /** Receives stderr chunks as they arrive. */
  stderr?: (chunk: Buffer) => void;
  /**
   * Aborting sends SIGINT to the command's process group and closes the channel. exec then
   * rejects with `signal.reason` at once, without waiting for the command to end.
   * NOTE: OpenSSH's sshd (9.2) rejects signal requests in root sessions, which run without
   * privilege separation, so there the command runs on until it ends or writes to a closed pipe.
   */
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number | null;
  /** Signal name such as `SIGTERM` when the command was killed by a signal. */
  exitSignal: string | null;
}

/**
 * Drives an exec channel to its end: streams stdin in, output out, and resolves with the exit
 * status. A channel that closes without an exit status rejects with `lostError()`, never with
 * an invented exit code.
 */
export function runChannel(channel: ClientChannel, options: ExecOptions, lostError: () => Error): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let exit: ExecResult | undefined;
    let failure: unknown;
    const { signal, stdin } = options;

    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => {
      if (stdin !== undefined && typeof stdin !== 'string' && !Buffer.isBuffer(stdin)) stdin.unpipe(channel);
      sendInterrupt(channel);
      channel.close();
      settle(() => reject(signal?.reason));
    };
    channel.on('exit', (code: number | null, signalName?: string) => {
      exit = { exitCode: code ?? null, exitSignal: signalName ?? null };
    });
    // Output that arrives after an abort is dropped, because the caller has stopped listening.
    channel.on('data', (chunk: Buffer) => settled || options.stdout?.(chunk));
    channel.stderr.on('data', (chunk: Buffer) => settled || options.stderr?.(chunk));
    if (options.stdoutStream) {
      channel.pipe(options.stdoutStream);
      options.stdoutStream.once('close', () => channel.resume());
    }
    // Write errors after the connection drops also end in 'close', which decides the outcome.
    channel.on('error', (error: Error) => log('channel error: %s', error.message));
    channel.on('close', () => {
      if (exit !== undefined) settle(() => resolve(exit!));
      else settle(() => reject(failure ?? lostError()));
    });

    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    if (stdin === undefined) channel.end();
    else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) channel.end(stdin);
    else {
      stdin.once('error', (error: Error) => {
        failure ??= error;
        channel.close();
      });
      stdin.pipe(channel);
    }
  });
}

/** The parts of ssh2's channel internals that sendInterrupt needs. */
interface ChannelInternals {
  outgoing: { id: number; state: string };
  _client: { _protocol: { signal(channelId: number, signalName: string): void } };
}

/**
 * Sends a `signal` request for SIGINT. ssh2 1.17 drops the request once stdin has ended,
 * although RFC 4254 allows channel requests after EOF, so it then goes through ssh2's protocol
 * object directly. OpenSSH's sshd delivers it to the command's process group.
 */
function sendInterrupt(channel: ClientChannel): void {
  const internals = channel as unknown as ChannelInternals;
  if (internals.outgoing.state === 'open') {
    channel.signal('INT');
  } else if (internals.outgoing.state === 'eof') {
    internals._client._protocol.signal(internals.outgoing.id, 'INT');
  }
}
