import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { RchError } from '../errors.js';

/** Path of the installed agent, relative to the worker's resolved remote_base. */
export const AGENT_PATH_IN_BASE = '.rch/bin/rch-wkr';

/** The agent script shipped with this copy of rch. */
export interface AgentSource {
  file: string;
  text: Buffer;
  /** `RCH_WKR_VERSION` from the script. */
  version: number;
  /** Hex sha256 of the script; an installed agent with the same hash is current. */
  sha256: string;
}

// lib/workers and dist/workers both sit two levels below the repository root.
const AGENT_FILE = fileURLToPath(new URL('../../worker/rch-wkr', import.meta.url));

let loaded: Promise<AgentSource> | undefined;

/** Reads worker/rch-wkr once per process. */
export function readAgentSource(): Promise<AgentSource> {
  loaded ??= loadAgentSource();
  return loaded;
}

async function loadAgentSource(): Promise<AgentSource> {
  let text: Buffer;
  try {
    text = await fs.readFile(AGENT_FILE);
  } catch (error) {
    throw new RchError('RCH_INTERNAL', `workers: cannot read the worker agent ${AGENT_FILE}`, { cause: error });
  }
  const version = /^RCH_WKR_VERSION=(\d+)$/m.exec(text.toString('utf8'))?.[1];
  if (version === undefined) throw new RchError('RCH_INTERNAL', `workers: ${AGENT_FILE} has no RCH_WKR_VERSION line`);
  return { file: AGENT_FILE, text, version: Number(version), sha256: createHash('sha256').update(text).digest('hex') };
}
