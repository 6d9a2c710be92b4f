import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { connectWorker, type SshConnection } from '../../lib/ssh/connection.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

const OUTPUT_BYTES = 8 * 1024 * 1024;
const SINK_HIGH_WATER_MARK = 16 * 1024;
// ssh2 delivers at most one 32 KiB packet per chunk.
const SSH_PACKET_BYTES = 32 * 1024;

let worker: SshdWorker;
let client: ClientHome;
let connection: SshConnection;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker]);
  const [config] = await loadWorkers(resolvePaths(client.env), client.env);
  connection = await connectWorker(config!, { paths: resolvePaths(client.env), env: client.env });
});

afterAll(async () => {
  connection?.close();
  await client?.cleanup();
  await worker?.stop();
});

/** Creates a sink that takes a millisecond per chunk and records the most it ever held unwritten. */
function createSlowSink(): { sink: Writable; received: () => number; maxBuffered: () => number; ended: () => boolean } {
  let received = 0;
  let maxBuffered = 0;
  let ended = false;
  const sink = new Writable({
    highWaterMark: SINK_HIGH_WATER_MARK,
    write(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      maxBuffered = Math.max(maxBuffered, sink.writableLength);
      sleep(1).then(() => callback());
    },
    final(callback) {
      ended = true;
      callback();
    },
  });
  return { sink, received: () => received, maxBuffered: () => maxBuffered, ended: () => ended };
}

describe('exec stdoutStream', () => {
  it('holds the worker back for a slow consumer', async () => {
    const slow = createSlowSink();
    const result = await connection.exec(`head -c ${OUTPUT_BYTES} /dev/zero`, { stdoutStream: slow.sink });
    await new Promise((resolve) => slow.sink.once('finish', resolve));

    expect(result.exitCode).toBe(0);
    expect(slow.received()).toBe(OUTPUT_BYTES);
    expect(slow.ended()).toBe(true);
    expect(slow.maxBuffered()).toBeLessThanOrEqual(SINK_HIGH_WATER_MARK + SSH_PACKET_BYTES);
  });

  it('lets the command finish after the consumer closes', async () => {
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('consumer failed'));
      },
    });
    sink.on('error', () => undefined);

    const result = await connection.exec(`head -c ${OUTPUT_BYTES} /dev/zero`, { stdoutStream: sink });

    expect(result.exitCode).toBe(0);
    expect(sink.destroyed).toBe(true);
  });
});
