import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../lib/config/paths.js';
import { loadWorkers } from '../../lib/config/workers.js';
import { connectWorker } from '../../lib/ssh/connection.js';
import { createClientHome, startWorkerSshd, type ClientHome, type SshdWorker } from '../helpers/sshd.js';

let worker: SshdWorker;
let client: ClientHome;
let agentPid: number | undefined;
let agentSocket: string;

beforeAll(async () => {
  worker = await startWorkerSshd();
  client = await createClientHome([worker], { workerOverrides: { [worker.workerId]: { identityFile: undefined } } });
  // The key lives only in the agent: no identity_file and no default key under ~/.ssh.
  const agentKey = path.join(client.home, 'agent-key');
  await fs.rename(client.identityFile, agentKey);
  await fs.rm(`${client.identityFile}.pub`, { force: true });

  agentSocket = path.join(client.home, 'agent.sock');
  const agent = await execa('ssh-agent', ['-s', '-a', agentSocket]);
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
  await execa('ssh-add', [agentKey], { env: { SSH_AUTH_SOCK: agentSocket } });
});

afterAll(async () => {
  if (agentPid) process.kill(agentPid);
  await client?.cleanup();
  await worker?.stop();
});

describe('ssh-agent authentication', () => {
  it('logs in with a key held by the agent', async () => {
    const env = { ...client.env, SSH_AUTH_SOCK: agentSocket };
    const [config] = await loadWorkers(resolvePaths(env), env);
    const connection = await connectWorker(config!, { paths: resolvePaths(env), env });
    try {
      const result = await connection.capture('echo agent-ok');
      expect(result.stdout.toString()).toBe('agent-ok\n');
    } finally {
      connection.close();
    }
  });

  it('fails without the agent', async () => {
    const [config] = await loadWorkers(resolvePaths(client.env), client.env);
    await expect(connectWorker(config!, { paths: resolvePaths(client.env), env: client.env })).rejects.toMatchObject({
      kind: 'transport',
    });
  });
});
