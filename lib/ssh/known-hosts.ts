import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../debug.js';
import { RchError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

const log = createLogger('known-hosts');

/** The name a host key is stored under: `hostKeyAlias` if set, else the host with its port. */
export interface HostKeyQuery {
  host: string;
  port: number;
  /** OpenSSH's `HostKeyAlias`, looked up without a port. */
  hostKeyAlias?: string | undefined;
}

export type HostKeyVerdict = 'trusted' | 'unknown' | 'changed' | 'revoked';

export interface HostKeyCheck {
  verdict: HostKeyVerdict;
  /** Key type from the key blob, such as `ssh-ed25519`. */
  keyType: string;
  /** `SHA256:` and the unpadded base64 SHA-256 of the key blob, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** For 'trusted' the matching entry, for 'changed' the old entry, for 'revoked' the `@revoked` line. */
  matchedFile?: string;
  line?: number;
  /** Key types listed for this host (without `@revoked` and `@cert-authority` lines), in file order. */
  knownTypes: string[];
}

interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | undefined;
  hostField: string;
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

/** Formats the host name as known_hosts stores it: lower case, and `[host]:port` unless the port is 22. */
export function formatKnownHostName(query: HostKeyQuery): string {
  if (query.hostKeyAlias !== undefined) return query.hostKeyAlias.toLowerCase();
  const host = query.host.toLowerCase();
  return query.port === 22 ? host : `[${host}]:${query.port}`;
}

/** Reads the key type from an SSH wire-format public key blob (a uint32 length, then the name). */
export function readKeyType(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return undefined;
  return key.subarray(4, 4 + length).toString('latin1');
}

export function fingerprintKey(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Checks whether `name` matches a comma-separated pattern list or a hashed `|1|salt|hmac` field. */
function matchesHostField(hostField: string, name: string): boolean {
  if (hostField.startsWith('|1|')) {
    const [, , salt, hash] = hostField.split('|');
    if (salt === undefined || hash === undefined) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  // A negated pattern that matches excludes the line even when another pattern matches.
  let matched = false;
  for (const pattern of hostField.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!matchesWildcard(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function matchesWildcard(pattern: string, name: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(name);
}

/** Parses one line. Returns undefined for blank lines, comments and lines that are not valid entries. */
function parseEntry(text: string, file: string, line: number): KnownHostEntry | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const fields = trimmed.split(/\s+/);
  let marker: KnownHostEntry['marker'];
  if (fields[0]!.startsWith('@')) {
    const name = fields.shift()!;
    if (name !== '@revoked' && name !== '@cert-authority') {
      log('%s:%d: unknown marker %s, line skipped', file, line, name);
      return undefined;
    }
    marker = name === '@revoked' ? 'revoked' : 'cert-authority';
  }
  const [hostField, keyType, base64] = fields;
  if (hostField === undefined || keyType === undefined || base64 === undefined) return undefined;
  const key = Buffer.from(base64, 'base64');
  if (readKeyType(key) !== keyType) {
    log('%s:%d: key does not decode as %s, line skipped', file, line, keyType);
    return undefined;
  }
  return { marker, hostField, keyType, key, file, line };
}

/** Reads the entries for `query` from `files`. Files that cannot be read are skipped, as OpenSSH does. */
function readMatchingEntries(query: HostKeyQuery, files: string[]): KnownHostEntry[] {
  const name = formatKnownHostName(query);
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      log('%s skipped: %s', file, (error as Error).message);
      continue;
    }
    text.split(/\r?\n/).forEach((lineText, index) => {
      const entry = parseEntry(lineText, file, index + 1);
      if (entry !== undefined && matchesHostField(entry.hostField, name)) entries.push(entry);
    });
  }
  return entries;
}

/** Lists the key types that `files` have for `query`, so that the connection can prefer them like OpenSSH does. */
export function listKnownKeyTypes(query: HostKeyQuery, files: string[]): string[] {
  const plain = readMatchingEntries(query, files).filter((entry) => entry.marker === undefined);
  return [...new Set(plain.map((entry) => entry.keyType))];
}

/**
 * Looks up the host key `key` (an SSH wire-format blob) for `query` in `files`. A matching
 * `@revoked` line wins over every other entry. 'changed' means the host has an entry of the same
 * key type with a different key. `@cert-authority` lines are ignored because `key` is a plain key.
 */
export function checkHostKey(query: HostKeyQuery, key: Buffer, files: string[]): HostKeyCheck {
  const keyType = readKeyType(key) ?? 'unknown';
  const fingerprint = fingerprintKey(key);
  const entries = readMatchingEntries(query, files);
  const plain = entries.filter((entry) => entry.marker === undefined);
  const knownTypes = [...new Set(plain.map((entry) => entry.keyType))];
  const located = (verdict: HostKeyVerdict, entry: KnownHostEntry): HostKeyCheck => ({
    verdict,
    keyType,
    fingerprint,
    matchedFile: entry.file,
    line: entry.line,
    knownTypes,
  });

  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked !== undefined) return located('revoked', revoked);
  const trusted = plain.find((entry) => entry.key.equals(key));
  if (trusted !== undefined) return located('trusted', trusted);
  const changed = plain.find((entry) => entry.keyType === keyType);
  if (changed !== undefined) return located('changed', changed);
  return { verdict: 'unknown', keyType, fingerprint, knownTypes };
}

/**
 * Appends `name type base64` for `key` to `file` through a temporary file and a rename. The file
 * gets mode 0600, and a missing folder is created with mode 0700.
 */
export async function appendKnownHost(file: string, query: HostKeyQuery, key: Buffer): Promise<void> {
  const keyType = readKeyType(key);
  if (keyType === undefined) {
    throw new RchError('RCH_INTERNAL', 'known-hosts: the host key to append is not an SSH public key blob');
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });

  let existing = '';
  try {
    existing = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  const entry = `${formatKnownHostName(query)} ${keyType} ${key.toString('base64')}\n`;
  await writeFileAtomic(file, `${existing}${separator}${entry}`, { mode: 0o600 });
  log('appended %s %s to %s', formatKnownHostName(query), keyType, file);
}
