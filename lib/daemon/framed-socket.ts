import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { RchError } from '../errors.js';

/** Largest frame either side accepts; output chunks and build requests are far smaller. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEADER_BYTES = 4;

/**
 * A Unix socket that carries JSON messages, each framed by a 4-byte big-endian byte length.
 * Emits 'message' for each frame, 'invalid' once for a frame it cannot read (then closes),
 * and 'close' when the socket is gone.
 */
export class FramedSocket<Incoming, Outgoing> extends EventEmitter {
  private pending: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(readonly socket: Socket) {
    super();
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
    // 'close' follows every error and decides what happens next.
    socket.on('error', () => undefined);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(message: Outgoing): void {
    if (this.closed || this.socket.destroyed) return;
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(body.length);
    this.socket.write(Buffer.concat([header, body]));
  }

  /** Sends what is queued, then closes the socket. */
  end(): void {
    if (!this.closed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER_BYTES) {
      const length = this.pending.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) {
        this.fail(`a frame of ${length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`);
        return;
      }
      if (this.pending.length < HEADER_BYTES + length) return;
      const body = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length);
      this.pending = this.pending.subarray(HEADER_BYTES + length);
      let message: Incoming;
      try {
        message = JSON.parse(body.toString('utf8')) as Incoming;
      } catch {
        this.fail('a frame does not hold valid JSON');
        return;
      }
      this.emit('message', message);
    }
  }

  private fail(problem: string): void {
    this.emit('invalid', new RchError('RCH_DAEMON_PROTOCOL', `daemon socket: ${problem}`, {
      kind: 'internal',
      hint: 'restart the daemon with `rch daemon restart`',
    }));
    this.pending = Buffer.alloc(0);
    this.socket.destroy();
  }
}
