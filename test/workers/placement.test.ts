import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SLOTS } from '../../lib/config/fleet-settings.js';
import type { RchPaths } from '../../lib/config/paths.js';
import type { FleetSettings, WorkerConfig } from '../../lib/config/types.js';
import { RchError } from '../../lib/errors.js';
import { capJobs } from '../../lib/remote/run-script.js';
import {
  admitWorker,
  BREAKER_COOL_DOWN_MS,
  BREAKER_FAILURE_THRESHOLD,
  readHealth,
  recordFailure,
  recordSuccess,
} from '../../lib/workers/health-breaker.js';
import { chooseQueue, findLocalExclusion, orderCandidates, type Candidate } from '../../lib/workers/placement.js';
import { countRequestedSlots } from '../../lib/workers/slot-status.js';
import { parseToolchainFile } from '../../lib/workers/toolchain-file.js';
import type { WorkerCaps } from '../../lib/workers/worker-caps.js';

function makeWorker(id: string, fields: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    id,
    host: `${id}.example`,
    user: undefined,
    port: undefined,
    identityFile: undefined,
    totalSlots: 4,
    priority: 100,
    enabled: true,
    tags: [],
    remoteBase: '~/.cache/rch-worker',
    gcMaxBytes: 1024,
    gcMaxAgeDays: 30,
    ...fields,
  };
}

const CAPS: WorkerCaps = {
  agentVersion: 1,
  agentSha256: null,
  installedAgentSha256: null,
  arch: 'x86_64',
  os: 'Linux',
  kernel: '6.1.0',
  cores: 16,
  memoryBytes: 64 * 1024 ** 3,
  remoteBase: '/home/builder/.cache/rch-worker',
  diskFreeBytes: 100 * 1024 ** 3,
  cargo: 'cargo 1.95.0',
  rustc: 'rustc 1.95.0',
  rustcHost: 'x86_64-unknown-linux-gnu',
  rustup: 'rustup 1.29.0',
  defaultToolchain: 'stable-x86_64-unknown-linux-gnu',
  toolchains: [{ name: 'stable-x86_64-unknown-linux-gnu', components: ['cargo-x86_64-unknown-linux-gnu', 'rust-src'] }],
};

function makeCandidate(id: string, fields: { priority?: number; inUse?: number; queued?: number; affinity?: boolean; caps?: WorkerCaps } = {}): Candidate {
  const worker = makeWorker(id, { priority: fields.priority ?? 100 });
  return {
    worker,
    requested: 2,
    slots: { total: worker.totalSlots, inUse: fields.inUse ?? 0, queued: fields.queued ?? 0, busy: [] },
    caps: fields.caps ?? CAPS,
    affinity: fields.affinity ?? false,
  };
}

const ids = (candidates: Candidate[]) => candidates.map((candidate) => candidate.worker.id);

describe('orderCandidates', () => {
  it('puts higher priority first', () => {
    expect(ids(orderCandidates([makeCandidate('low', { priority: 10 }), makeCandidate('high', { priority: 90 })]))).toEqual(['high', 'low']);
  });

  it('puts a worker with free slots before a full one', () => {
    const full = makeCandidate('full', { priority: 90, inUse: 3 });
    const free = makeCandidate('free', { priority: 10 });
    expect(ids(orderCandidates([full, free]))).toEqual(['free', 'full']);
  });

  it('prefers the worker that holds the project at equal priority', () => {
    const warm = makeCandidate('warm', { affinity: true, inUse: 2 });
    const cold = makeCandidate('cold');
    expect(ids(orderCandidates([cold, warm]))).toEqual(['warm', 'cold']);
  });

  it('prefers an installed toolchain, then more free slots', () => {
    const withoutNightly = makeCandidate('a');
    const withNightly = makeCandidate('b', {
      inUse: 2,
      caps: { ...CAPS, toolchains: [...CAPS.toolchains, { name: 'nightly-x86_64-unknown-linux-gnu', components: [] }] },
    });
    const toolchain = { channel: 'nightly', components: [], source: '+nightly' };
    expect(ids(orderCandidates([withoutNightly, withNightly], toolchain))).toEqual(['b', 'a']);
    expect(ids(orderCandidates([withNightly, withoutNightly]))).toEqual(['a', 'b']);
  });
});

describe('chooseQueue', () => {
  it('picks the fewest waiting builds per slot', () => {
    const crowded = makeCandidate('crowded', { inUse: 4, queued: 3 });
    const calm = makeCandidate('calm', { inUse: 4, queued: 1 });
    expect(chooseQueue([crowded, calm])?.worker.id).toBe('calm');
  });
});

describe('findLocalExclusion', () => {
  const use = { drained: false, admission: 'use' as const, caps: undefined };

  it('excludes disabled, drained and broken workers', () => {
    expect(findLocalExclusion(makeWorker('a', { enabled: false }), use, 'x86_64')).toMatch(/disabled/);
    expect(findLocalExclusion(makeWorker('a'), { ...use, drained: true }, 'x86_64')).toMatch(/drained/);
    expect(findLocalExclusion(makeWorker('a'), { ...use, admission: 'skip' }, 'x86_64')).toMatch(/breaker is open/);
    expect(findLocalExclusion(makeWorker('a'), use, 'x86_64')).toBeUndefined();
  });

  it('excludes a cached worker of another architecture', () => {
    const reason = findLocalExclusion(makeWorker('a'), { ...use, caps: { ...CAPS, arch: 'aarch64' } }, 'x86_64');
    expect(reason).toBe("architecture aarch64 differs from this machine's x86_64");
  });

  it('excludes a missing toolchain only without rustup', () => {
    const toolchain = { channel: '1.70.0', components: [], source: 'rust-toolchain.toml' };
    expect(findLocalExclusion(makeWorker('a'), { ...use, caps: CAPS }, 'x86_64', toolchain)).toBeUndefined();
    const noRustup = { ...use, caps: { ...CAPS, rustup: null } };
    expect(findLocalExclusion(makeWorker('a'), noRustup, 'x86_64', toolchain)).toMatch(/toolchain 1\.70\.0 .* no rustup/);
  });
});

describe('countRequestedSlots', () => {
  const settings: FleetSettings = { queueTimeoutSecs: 300, slots: { ...DEFAULT_SLOTS, check: 2, test: 16 } };

  it('uses the setting of the subcommand', () => {
    expect(countRequestedSlots('check', settings, makeWorker('a', { totalSlots: 8 }))).toBe(2);
    expect(countRequestedSlots('nextest run', settings, makeWorker('a', { totalSlots: 8 }))).toBe(4);
  });

  it('caps the request at total_slots', () => {
    expect(countRequestedSlots('test', settings, makeWorker('a', { totalSlots: 8 }))).toBe(8);
    expect(countRequestedSlots('bench', settings, makeWorker('a', { totalSlots: 6 }))).toBe(6);
  });
});

describe('capJobs', () => {
  const slots = { count: 3, total: 8, waitSecs: 0 };

  it('caps jobs and test threads at the slots granted', () => {
    expect(capJobs({}, slots)).toEqual({ CARGO_BUILD_JOBS: '3', RUST_TEST_THREADS: '3', NEXTEST_TEST_THREADS: '3' });
  });

  it('keeps the user’s CARGO_BUILD_JOBS', () => {
    expect(capJobs({ CARGO_BUILD_JOBS: '12' }, slots).CARGO_BUILD_JOBS).toBe('12');
  });
});

describe('parseToolchainFile', () => {
  it('reads the channel and components', () => {
    const text = '[toolchain]\nchannel = "nightly-2024-05-01"\ncomponents = ["clippy", "rust-src"]\n';
    expect(parseToolchainFile(text, 'rust-toolchain.toml')).toEqual({
      channel: 'nightly-2024-05-01',
      components: ['clippy', 'rust-src'],
      source: 'rust-toolchain.toml',
    });
  });

  it('reads the legacy one-line file', () => {
    expect(parseToolchainFile('1.79.0\n', 'rust-toolchain')?.channel).toBe('1.79.0');
  });
});

describe('health breaker', () => {
  let root: string;
  let paths: RchPaths;
  const worker = makeWorker('flaky');
  const fault = new RchError('RCH_SSH_CONNECT', 'worker "flaky": cannot connect: connection refused');

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'rch-breaker-'));
    paths = { config: path.join(root, 'config'), state: path.join(root, 'state'), cache: path.join(root, 'cache'), home: root };
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('opens after repeated faults', async () => {
    for (let count = 1; count < BREAKER_FAILURE_THRESHOLD; count++) await recordFailure(paths, worker, fault, 1_000);
    expect(await admitWorker(paths, worker, 1_000)).toBe('use');

    await recordFailure(paths, worker, fault, 1_000);
    expect((await readHealth(paths, worker)).state).toBe('open');
    expect(await admitWorker(paths, worker, 1_000 + BREAKER_COOL_DOWN_MS - 1)).toBe('skip');
  });

  it('grants one trial after the cool-down', async () => {
    for (let count = 0; count < BREAKER_FAILURE_THRESHOLD; count++) await recordFailure(paths, worker, fault, 1_000);
    const later = 1_000 + BREAKER_COOL_DOWN_MS;

    expect(await admitWorker(paths, worker, later)).toBe('trial');
    expect(await admitWorker(paths, worker, later)).toBe('skip');
    expect((await readHealth(paths, worker)).state).toBe('half-open');
  });

  it('closes after a successful trial and reopens after a failed one', async () => {
    for (let count = 0; count < BREAKER_FAILURE_THRESHOLD; count++) await recordFailure(paths, worker, fault, 1_000);
    const later = 1_000 + BREAKER_COOL_DOWN_MS;
    await admitWorker(paths, worker, later);
    await recordFailure(paths, worker, fault, later);
    expect((await readHealth(paths, worker)).state).toBe('open');
    expect(await admitWorker(paths, worker, later + 1)).toBe('skip');

    await admitWorker(paths, worker, later + BREAKER_COOL_DOWN_MS);
    await recordSuccess(paths, worker, later + BREAKER_COOL_DOWN_MS);
    const health = await readHealth(paths, worker);
    expect(health.state).toBe('closed');
    expect(health.consecutiveFailures).toBe(0);
    expect(await admitWorker(paths, worker, later + BREAKER_COOL_DOWN_MS)).toBe('use');
  });
});
