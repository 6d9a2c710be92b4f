import net from 'node:net';
import { RchError } from '../errors.js';
import { FramedSocket } from './framed-socket.js';
import type { ClientMessage, DaemonMessage } from './protocol.js';

/** How long connecting to the daemon's socket may take. */
const CONNECT_TIMEOUT_MS = 1_000;
/** How long a one-shot request (hello, status, stop) waits for its response. */
const REPLY_TIMEOUT_MS = 5_000;

export type ClientSession = FramedSocket<DaemonMessage, ClientMessage>;

/**
 * Connects to the daemon's socket. Throws RCH_DAEMON_UNAVAILABLE when nothing listens there,
 * with the system error code (ENOENT, ECONNREFUSED) as `cause`.
 */
export function openSession(socketPath: string): Promise<ClientSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const fail = (problem: string, cause?: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new RchError('RCH_DAEMON_UNAVAILABLE', `cannot connect to the rch daemon at ${socketPath}: ${problem}`, {
          cause,
          hint: 'run `rch daemon start`, or set RCH_NO_DAEMON=1 to build without the daemon',
        }),
      );
    };
    const timer = setTimeout(() => fail(`no answer within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message, error));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new FramedSocket(socket));
    });
  });
}

/** Checks whether an error means that no daemon listens on the socket, as opposed to one that misbehaves. */
export function isNotListening(error: unknown): boolean {
  if (!(error instanceof RchError) || error.code !== 'RCH_DAEMON_UNAVAILABLE') return false;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** Sends one request and returns the daemon's single response. */
export async function requestReply(socketPath: string, message: ClientMessage): Promise<DaemonMessage> {
  const session = await openSession(socketPath);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.destroy();
      reject(new RchError('RCH_DAEMON_UNAVAILABLE', `the rch daemon at ${socketPath} did not respond to a ${message.type} request within ${REPLY_TIMEOUT_MS} ms`, {
        hint: 'see its log, or stop it with `rch daemon stop`',
      }));
    }, REPLY_TIMEOUT_MS);
    session.once('message', (reply: DaemonMessage) => {
      clearTimeout(timer);
      session.end();
      resolve(reply);
    });
    session.once('invalid', (error: RchError) => {
      clearTimeout(timer);
      reject(error);
    });
    session.once('close', () => {
      clearTimeout(timer);
      reject(new RchError('RCH_DAEMON_UNAVAILABLE', `the rch daemon at ${socketPath} closed the connection without a response`));
    });
    session.send(message);
  });
}
