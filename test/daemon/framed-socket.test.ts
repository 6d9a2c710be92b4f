import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FramedSocket, MAX_FRAME_BYTES } from '../../lib/daemon/framed-socket.js';
import type { RchError } from '../../lib/errors.js';

type Message = { n: number; text?: string };

let scratch: string;
let server: net.Server;
let accepted: Promise<FramedSocket<Message, Message>>;

beforeEach(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-frames-'));
  let accept: (socket: FramedSocket<Message, Message>) => void = () => {};
  accepted = new Promise((resolve) => (accept = resolve));
  server = net.createServer((socket) => accept(new FramedSocket(socket)));
  await new Promise<void>((resolve) => server.listen(path.join(scratch, 's.sock'), resolve));
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(scratch, { recursive: true, force: true });
});

function connectRaw(): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect(path.join(scratch, 's.sock'), () => resolve(socket));
  });
}

describe('framed socket', () => {
  it('reassembles frames split across writes', async () => {
    const raw = await connectRaw();
    const framed = await accepted;
    const received: Message[] = [];
    framed.on('message', (message: Message) => received.push(message));

    const frames = [{ n: 1, text: 'é'.repeat(3000) }, { n: 2 }].map((message) => {
      const body = Buffer.from(JSON.stringify(message));
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length);
      return Buffer.concat([header, body]);
    });
    const bytes = Buffer.concat(frames);
    for (let offset = 0; offset < bytes.length; offset += 7) raw.write(bytes.subarray(offset, offset + 7));
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(received).toEqual([{ n: 1, text: 'é'.repeat(3000) }, { n: 2 }]);
    raw.destroy();
  });

  it('rejects an oversized frame and closes', async () => {
    const raw = await connectRaw();
    const framed = await accepted;
    const invalid = new Promise<RchError>((resolve) => framed.on('invalid', resolve));
    const closed = new Promise((resolve) => framed.on('close', resolve));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    raw.write(header);

    expect(await invalid).toMatchObject({ code: 'RCH_DAEMON_PROTOCOL' });
    await closed;
    expect(framed.isClosed).toBe(true);
  });

  it('rejects a frame that is not JSON', async () => {
    const raw = await connectRaw();
    const framed = await accepted;
    const invalid = new Promise<RchError>((resolve) => framed.on('invalid', resolve));
    const body = Buffer.from('{not json');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    raw.write(Buffer.concat([header, body]));

    expect((await invalid).message).toContain('does not hold valid JSON');
  });
});
