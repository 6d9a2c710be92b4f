import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SshConnection } from '../ssh/connection.js';
import { RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('compression');

/** The encoding of a transfer's bytes: unchanged, or one gzip stream. */
export type Compression = 'none' | 'gzip';

/** `RCH_COMPRESSION`: a fixed choice, or `auto` (the default) to decide per transfer. */
export type CompressionSetting = Compression | 'auto';

/** zlib level for uploads; the worker packs artifacts with `gzip -1` to match. */
export const GZIP_LEVEL = 1;

/**
 * Transfers smaller than this go uncompressed on any link. An estimate: at 1 MB/s, gzip saves
 * about 45 ms on 64 KiB of source code, which is about what probing the link costs there.
 */
export const MIN_COMPRESSED_BYTES = 64 * 1024;

/**
 * A no-op exec that takes longer than this marks a slow link. An exec costs about two and a
 * half round trips plus the start of the login shell, so on a LAN it takes a few milliseconds
 * and this limit means a round-trip time of about 4 ms or more.
 * NOTE: an estimate from loopback timings. A worker whose login shell starts slowly passes for a slow link.
 */
export const SLOW_EXEC_MS = 15;

/** Measured no-op exec times by connection, reused by later transfers on the same connection. */
const probedExecMs = new WeakMap<SshConnection, number>();

/** Reads `RCH_COMPRESSION` (unset or empty means `auto`). */
export function readCompressionSetting(env: NodeJS.ProcessEnv = process.env): CompressionSetting {
  const value = (env.RCH_COMPRESSION ?? '').trim().toLowerCase();
  if (value === '') return 'auto';
  if (value === 'none' || value === 'gzip' || value === 'auto') return value;
  throw new RchError('RCH_CONFIG_INVALID', `RCH_COMPRESSION=${env.RCH_COMPRESSION} is invalid`, {
    hint: 'set RCH_COMPRESSION to none, gzip or auto, or unset it',
  });
}

/** True for `localhost` and addresses in 127.0.0.0/8 or `::1`, where compression only costs CPU. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

export interface CompressionInput {
  setting: CompressionSetting;
  hostname: string;
  /** Uncompressed size of what the transfer carries. */
  payloadBytes: number;
  /** Duration of a no-op exec on the connection; needed only for large payloads to other hosts. */
  execMs?: number;
}

/** Picks the compression for one transfer, or `undefined` when `execMs` must be measured first. */
export function decideCompression(input: CompressionInput): Compression | undefined {
  if (input.setting !== 'auto') return input.setting;
  if (input.payloadBytes < MIN_COMPRESSED_BYTES || isLoopbackHost(input.hostname)) return 'none';
  if (input.execMs === undefined) return undefined;
  return input.execMs > SLOW_EXEC_MS ? 'gzip' : 'none';
}

/** Picks the compression for a transfer of `payloadBytes` on `connection`, probing the link once if it must. */
export async function chooseCompression(
  connection: SshConnection,
  payloadBytes: number,
  setting: CompressionSetting = readCompressionSetting(),
): Promise<Compression> {
  const input: CompressionInput = { setting, hostname: connection.target.hostname, payloadBytes };
  input.execMs = probedExecMs.get(connection);
  const decided = decideCompression(input);
  if (decided !== undefined) return decided;

  input.execMs = await measureExecTime(connection);
  probedExecMs.set(connection, input.execMs);
  const probed = decideCompression(input) ?? 'none';
  log('worker %s: no-op exec took %d ms, %d bytes to move: %s', connection.workerId, Math.round(input.execMs), payloadBytes, probed);
  return probed;
}

/** Times one no-op command on the worker. */
async function measureExecTime(connection: SshConnection): Promise<number> {
  const started = performance.now();
  await connection.exec('exit 0');
  return performance.now() - started;
}
