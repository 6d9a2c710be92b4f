import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendKnownHost, checkHostKey, formatKnownHostName, listKnownKeyTypes } from '../../lib/ssh/known-hosts.js';

interface TestKey {
  type: string;
  base64: string;
  blob: Buffer;
  /** Fingerprint as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

let dir: string;
let ed25519: TestKey;
let otherEd25519: TestKey;
let ecdsa: TestKey;

async function generateKey(name: string, type: 'ed25519' | 'ecdsa'): Promise<TestKey> {
  const file = path.join(dir, name);
  await execa('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', file]);
  const [keyType, base64] = (await fs.readFile(`${file}.pub`, 'utf8')).trim().split(' ');
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]);
  return { type: keyType!, base64: base64!, blob: Buffer.from(base64!, 'base64'), fingerprint: stdout.split(' ')[1]! };
}

let fileCount = 0;
async function writeKnownHosts(text: string): Promise<string> {
  const file = path.join(dir, `known_hosts_${fileCount++}`);
  await fs.writeFile(file, text);
  return file;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rch-known-hosts-'));
  ed25519 = await generateKey('a', 'ed25519');
  otherEd25519 = await generateKey('b', 'ed25519');
  ecdsa = await generateKey('c', 'ecdsa');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('checkHostKey', () => {
  it('trusts a plain entry on port 22', async () => {
    const file = await writeKnownHosts(`# comment\n\nbuild.example.com ${ed25519.type} ${ed25519.base64} a comment\n`);
    const check = checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]);
    expect(check.verdict).toBe('trusted');
    expect(check.matchedFile).toBe(file);
    expect(check.line).toBe(3);
    expect(check.keyType).toBe('ssh-ed25519');
    expect(check.fingerprint).toBe(ed25519.fingerprint);
  });

  it('matches host names case-insensitively', async () => {
    const file = await writeKnownHosts(`Build.Example.COM ${ed25519.type} ${ed25519.base64}\n`);
    expect(checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('trusted');
  });

  it('needs the [host]:port form for other ports', async () => {
    const plain = await writeKnownHosts(`127.0.0.1 ${ed25519.type} ${ed25519.base64}\n`);
    const bracketed = await writeKnownHosts(`[127.0.0.1]:2222 ${ed25519.type} ${ed25519.base64}\n`);
    expect(checkHostKey({ host: '127.0.0.1', port: 2222 }, ed25519.blob, [plain]).verdict).toBe('unknown');
    expect(checkHostKey({ host: '127.0.0.1', port: 2222 }, ed25519.blob, [bracketed]).verdict).toBe('trusted');
    expect(checkHostKey({ host: '127.0.0.1', port: 22 }, ed25519.blob, [bracketed]).verdict).toBe('unknown');
  });

  it('matches entries hashed by ssh-keygen -H', async () => {
    const file = await writeKnownHosts(
      [
        `build.example.com ${ed25519.type} ${ed25519.base64}`,
        `[127.0.0.1]:2222 ${ecdsa.type} ${ecdsa.base64}`,
        '',
      ].join('\n'),
    );
    await execa('ssh-keygen', ['-H', '-f', file]);
    const hashed = await fs.readFile(file, 'utf8');
    expect(hashed).not.toContain('build.example.com');
    expect(hashed).toMatch(/^\|1\|/);

    expect(checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('trusted');
    expect(checkHostKey({ host: '127.0.0.1', port: 2222 }, ecdsa.blob, [file]).verdict).toBe('trusted');
    expect(checkHostKey({ host: 'other.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('unknown');
  });

  it('matches * and ? wildcards', async () => {
    const file = await writeKnownHosts(`*.example.com,10.0.0.? ${ed25519.type} ${ed25519.base64}\n`);
    expect(checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('trusted');
    expect(checkHostKey({ host: '10.0.0.7', port: 22 }, ed25519.blob, [file]).verdict).toBe('trusted');
    expect(checkHostKey({ host: '10.0.0.17', port: 22 }, ed25519.blob, [file]).verdict).toBe('unknown');
    expect(checkHostKey({ host: 'example.org', port: 22 }, ed25519.blob, [file]).verdict).toBe('unknown');
  });

  it('excludes hosts matched by a negated pattern', async () => {
    const file = await writeKnownHosts(`*.example.com,!evil.example.com ${ed25519.type} ${ed25519.base64}\n`);
    expect(checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('trusted');
    expect(checkHostKey({ host: 'evil.example.com', port: 22 }, ed25519.blob, [file]).verdict).toBe('unknown');
  });

  it('reports a revoked key even when it is also trusted', async () => {
    const trusted = await writeKnownHosts(`build.example.com ${ed25519.type} ${ed25519.base64}\n`);
    const revoked = await writeKnownHosts(`@revoked * ${ed25519.type} ${ed25519.base64}\n`);
    const check = checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [trusted, revoked]);
    expect(check.verdict).toBe('revoked');
    expect(check.matchedFile).toBe(revoked);
    expect(check.line).toBe(1);
  });

  it('reports a changed key with its old entry', async () => {
    const file = await writeKnownHosts(`# first line\n[127.0.0.1]:2222 ${ed25519.type} ${ed25519.base64}\n`);
    const check = checkHostKey({ host: '127.0.0.1', port: 2222 }, otherEd25519.blob, [file]);
    expect(check.verdict).toBe('changed');
    expect(check.matchedFile).toBe(file);
    expect(check.line).toBe(2);
    expect(check.fingerprint).toBe(otherEd25519.fingerprint);
  });

  it('reports other key types as unknown', async () => {
    const file = await writeKnownHosts(`build.example.com ${ecdsa.type} ${ecdsa.base64}\n`);
    const check = checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]);
    expect(check.verdict).toBe('unknown');
    expect(check.knownTypes).toEqual([ecdsa.type]);
    expect(listKnownKeyTypes({ host: 'build.example.com', port: 22 }, [file])).toEqual([ecdsa.type]);
  });

  it('ignores @cert-authority lines for plain keys', async () => {
    const file = await writeKnownHosts(`@cert-authority *.example.com ${otherEd25519.type} ${otherEd25519.base64}\n`);
    const check = checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [file]);
    expect(check.verdict).toBe('unknown');
    expect(check.knownTypes).toEqual([]);
  });

  it('skips malformed lines and missing files', async () => {
    const file = await writeKnownHosts(
      [
        'just-a-host',
        `broken.example.com ssh-ed25519 not-base64!!`,
        `@unknown-marker build.example.com ${otherEd25519.type} ${otherEd25519.base64}`,
        `build.example.com ${ed25519.type} ${ed25519.base64}`,
      ].join('\n'),
    );
    const check = checkHostKey({ host: 'build.example.com', port: 22 }, ed25519.blob, [path.join(dir, 'missing'), file]);
    expect(check.verdict).toBe('trusted');
    expect(check.line).toBe(4);
  });

  it('looks up HostKeyAlias without the port', async () => {
    const file = await writeKnownHosts(`builder ${ed25519.type} ${ed25519.base64}\n`);
    const query = { host: '127.0.0.1', port: 2222, hostKeyAlias: 'builder' };
    expect(formatKnownHostName(query)).toBe('builder');
    expect(checkHostKey(query, ed25519.blob, [file]).verdict).toBe('trusted');
  });
});

describe('appendKnownHost', () => {
  it('writes [host]:port entries with mode 0600 in a 0700 folder', async () => {
    const file = path.join(dir, 'new-folder', 'known_hosts');
    await appendKnownHost(file, { host: '127.0.0.1', port: 2222 }, ed25519.blob);
    expect(await fs.readFile(file, 'utf8')).toBe(`[127.0.0.1]:2222 ${ed25519.type} ${ed25519.base64}\n`);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(checkHostKey({ host: '127.0.0.1', port: 2222 }, ed25519.blob, [file]).verdict).toBe('trusted');
  });

  it('writes a bare host name for port 22 and keeps existing lines', async () => {
    const file = await writeKnownHosts(`other.example.com ${ecdsa.type} ${ecdsa.base64}`);
    await appendKnownHost(file, { host: 'Build.Example.com', port: 22 }, ed25519.blob);
    expect(await fs.readFile(file, 'utf8')).toBe(
      `other.example.com ${ecdsa.type} ${ecdsa.base64}\nbuild.example.com ${ed25519.type} ${ed25519.base64}\n`,
    );
  });

  it('produces lines that ssh-keygen -F finds', async () => {
    const file = path.join(dir, 'keygen-check', 'known_hosts');
    await appendKnownHost(file, { host: '127.0.0.1', port: 2222 }, ed25519.blob);
    const { stdout } = await execa('ssh-keygen', ['-F', '[127.0.0.1]:2222', '-f', file]);
    expect(stdout).toContain(ed25519.base64);
  });
});
