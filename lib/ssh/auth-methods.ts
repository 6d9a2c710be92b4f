import fs from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, ParsedKey } from 'ssh2';
import type { SshTarget } from '../config/types.js';
import { createLogger } from '../debug.js';
import { RchError } from '../errors.js';

const log = createLogger('ssh');

/** The ssh2 authentication attempts for one connection, and a description of each for error messages. */
export interface AuthPlan {
  methods: AnyAuthMethod[];
  /** The keys offered, such as `/home/me/.ssh/id_ed25519` or `keys in ssh-agent (/tmp/agent.sock)`. */
  offered: string[];
  /** Identity files left out, each with the reason. */
  skipped: string[];
}

/**
 * Builds the public-key attempts for `target` from its identity files and the ssh-agent at
 * `SSH_AUTH_SOCK`. Password and keyboard-interactive authentication are never offered.
 * Explicit identity files go before the agent's keys, default ones after them, as in OpenSSH.
 */
export async function planAuthentication(
  workerId: string,
  target: SshTarget,
  env: NodeJS.ProcessEnv,
): Promise<AuthPlan> {
  const agentSocket = env.SSH_AUTH_SOCK || undefined;
  const keyMethods: AnyAuthMethod[] = [];
  const keyFiles: string[] = [];
  const missing: string[] = [];
  const encrypted: string[] = [];

  for (const file of target.identityFiles) {
    const key = await readPrivateKey(workerId, file);
    if (key === 'missing') missing.push(file);
    else if (key === 'encrypted') encrypted.push(file);
    else {
      keyMethods.push({ type: 'publickey', username: target.user, key });
      keyFiles.push(file);
    }
  }

  const subject = `worker "${workerId}"`;
  // OpenSSH warns about a missing IdentityFile and goes on, so only a list with no file at all fails.
  if (target.identityExplicit && missing.length > 0 && missing.length === target.identityFiles.length) {
    throw new RchError('RCH_SSH_IDENTITY', `${subject}: identity file ${missing.join(', ')} not found`, {
      hint: 'fix identity_file in workers.toml or IdentityFile in ~/.ssh/config, or create the key: ssh-keygen -t ed25519',
    });
  }
  if (keyMethods.length === 0 && agentSocket === undefined) {
    if (encrypted.length > 0) {
      const files = encrypted.join(', ');
      const problem = `identity file ${files} is encrypted and no ssh-agent is running (SSH_AUTH_SOCK is not set)`;
      throw new RchError('RCH_SSH_IDENTITY', `${subject}: ${problem}`, {
        hint: `start an agent and add the key: eval "$(ssh-agent)" && ssh-add ${encrypted[0]}`,
      });
    }
    const problem = 'no SSH key to offer: no identity file found and SSH_AUTH_SOCK is not set';
    throw new RchError('RCH_SSH_IDENTITY', `${subject}: ${problem}`, {
      hint: 'create a key with ssh-keygen -t ed25519, set identity_file in workers.toml, or start ssh-agent',
    });
  }

  const skipped = [
    ...missing.map((file) => `${file} (not found)`),
    ...encrypted.map((file) => `${file} (encrypted, so only usable through ssh-agent)`),
  ];
  if (skipped.length > 0) log('worker %s: skipped identity files %o', workerId, skipped);
  if (agentSocket === undefined) return { methods: keyMethods, offered: keyFiles, skipped };

  const agentMethod: AnyAuthMethod = { type: 'agent', username: target.user, agent: agentSocket };
  const agentDescription = `keys in ssh-agent (${agentSocket})`;
  return target.identityExplicit
    ? { methods: [...keyMethods, agentMethod], offered: [...keyFiles, agentDescription], skipped }
    : { methods: [agentMethod, ...keyMethods], offered: [agentDescription, ...keyFiles], skipped };
}

/** Reads and parses an unencrypted private key. An 'encrypted' key needs a passphrase, which rch cannot prompt for. */
async function readPrivateKey(workerId: string, file: string): Promise<ParsedKey | 'missing' | 'encrypted'> {
  const subject = `worker "${workerId}": identity file ${file}`;
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new RchError('RCH_SSH_IDENTITY', `${subject} cannot be read: ${(error as Error).message}`, {
      cause: error,
      hint: `check the permissions of ${file}`,
    });
  }

  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) {
    // ssh2 reports every encrypted format (OpenSSH, PEM, PPK) as "... but no passphrase given".
    if (/passphrase/i.test(parsed.message)) return 'encrypted';
    throw new RchError('RCH_SSH_IDENTITY', `${subject} is not a readable private key: ${parsed.message}`, {
      cause: parsed,
      hint: 'point identity_file in workers.toml at an OpenSSH, PEM or PPK private key',
    });
  }
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (!key.isPrivateKey()) {
    throw new RchError('RCH_SSH_IDENTITY', `${subject} contains a public key, expected a private key`, {
      hint: `use the private key file (${file.replace(/\.pub$/, '')}) as identity_file`,
    });
  }
  return key;
}
