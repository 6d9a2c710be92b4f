import type { ProjectConfig, WorkerConfig } from '../config/types.js';
import type { RchPaths } from '../config/paths.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { readProjectLayout, type ProjectLayout } from '../sync/cargo-metadata.js';
import { scanTree, type TreeEntry } from '../sync/scan-tree.js';
import { FileIndex, indexFileFor } from '../sync/file-index.js';
import { syncProject } from '../sync/sync-project.js';
import {
  loadWorkerState,
  projectKeyFor,
  saveWorkerState,
  workerKeyFor,
  workerStateFile,
  type WorkerProjectState,
} from '../sync/worker-state.js';
import { runRemoteCargo, type RemoteCargoResult, type SlotRequest } from '../remote/run-remote-cargo.js';
import { selectForwardedEnv } from '../remote/forward-env.js';
import { toRemotePath } from '../remote/remote-path.js';
import { pullArtifacts } from '../artifacts/pull-artifacts.js';
import { mapArgsForWorker } from './cargo-args.js';
import { terminalEnv } from './terminal-env.js';
import { timePhase } from './phase-timings.js';
import { acquireFileLock } from '../util/file-lock.js';
import { isTransportFault, RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('build');

/** How long a build waits for another build of the same project on the same worker. */
const PROJECT_LOCK_TIMEOUT_MS = 30 * 60 * 1000;

export interface RemoteBuildRequest {
  worker: WorkerConfig;
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  cwd: string;
  args: string[];
  subcommandIndex: number;
  layout: ProjectLayout;
  project: ProjectConfig;
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  signal: AbortSignal;
  /** Build slots cargo holds on the worker, capping its jobs; RCH_WORKER_BUSY when they are not free in time. */
  slots?: SlotRequest;
  /** Opens (or lends from a pool) a connection to the worker. Default: a new connection, closed after the build. */
  connect?: (worker: WorkerConfig) => Promise<LeasedConnection>;
  /** Lists and fingerprints the local tree. Default: a full scan with the on-disk hash cache. */
  snapshotTree?: (layout: ProjectLayout, project: ProjectConfig, projectKey: string) => Promise<TreeSnapshot>;
}

/** A connection for one build, and what to do with it afterwards. */
export interface LeasedConnection {
  connection: SshConnection;
  /** Called once when the build is done; `broken` is true after a transport fault. */
  release(broken: boolean): void;
}

/** The local tree as the worker should hold it. */
export interface TreeSnapshot {
  entries: Map<string, TreeEntry>;
  fingerprints: Map<string, string>;
}

async function connectFresh(worker: WorkerConfig, paths: RchPaths, env: NodeJS.ProcessEnv): Promise<LeasedConnection> {
  const connection = await connectWorker(worker, { paths, env });
  return { connection, release: () => connection.close() };
}

/** Scans the whole tree and hashes what changed since the last scan (the per-build path without a daemon). */
export async function scanAndFingerprint(
  layout: ProjectLayout,
  project: ProjectConfig,
  indexFile: string,
): Promise<TreeSnapshot> {
  const scanStartNs = BigInt(Date.now()) * 1_000_000n;
  const [entries, index] = await Promise.all([
    scanTree({ roots: layout.roots, excludedFolders: [layout.targetDir], extraExcludes: project.exclude }),
    FileIndex.load(indexFile),
  ]);
  const fingerprints = await index.fingerprint(entries, scanStartNs);
  await index.save();
  return { entries, fingerprints };
}

/** Cargo's exit status on the worker; anything else that goes wrong is thrown as an RchError. */
export type RemoteBuildResult = { exitCode: number } & { filesSent: number; artifactsPulled: number };

/**
 * One remote build on one worker: connect, sync the sources, run cargo, bring back the
 * artifacts. A transport fault before cargo starts leaves nothing changed locally.
 */
export async function runRemoteBuild(request: RemoteBuildRequest): Promise<RemoteBuildResult> {
  const { worker, layout } = request;
  const projectKey = projectKeyFor(layout.workspaceRoot);
  const stateFile = workerStateFile(request.paths.state, workerKeyFor(worker), projectKey);
  const release = await acquireFileLock(`${stateFile}.lock`, {
    timeoutMs: PROJECT_LOCK_TIMEOUT_MS,
    onWait: () => request.stderr(Buffer.from(`rch: waiting for another build of ${layout.workspaceRoot} on worker ${worker.id}\n`)),
  });
  let lease: LeasedConnection | undefined;
  let broken = false;
  try {
    const snapshotTree =
      request.snapshotTree ??
      ((tree: ProjectLayout, project: ProjectConfig) => scanAndFingerprint(tree, project, indexFileFor(request.paths.cache, projectKey)));
    const [{ entries: scanned, fingerprints }, previous] = await timePhase('snapshot', () => Promise.all([
      snapshotTree(layout, request.project, projectKey),
      loadWorkerState(stateFile),
    ]));

    lease = await timePhase('connect', () => (request.connect ?? ((target) => connectFresh(target, request.paths, request.env)))(worker));
    const connection = lease.connection;
    const sync = (prior: WorkerProjectState | undefined) =>
      syncProject({
        connection,
        remoteBase: worker.remoteBase,
        projectKey,
        roots: layout.roots,
        targetDir: layout.targetDir,
        entries: scanned,
        fingerprints,
        previous: prior,
      });

    let synced = await sync(previous);
    await saveWorkerState(stateFile, synced.state);

    const run = (state: WorkerProjectState): Promise<RemoteCargoResult> =>
      runRemoteCargo({
        connection,
        remoteBase: state.remoteBase,
        projectKey,
        token: state.token,
        roots: layout.roots,
        cwd: request.cwd,
        args: mapArgsForWorker(request.args, request.subcommandIndex, request.cwd, state.remoteBase),
        env: {
          ...selectForwardedEnv(request.env, request.project.env),
          ...terminalEnv(request.env, request.args),
          CARGO_TARGET_DIR: toRemotePath(state.remoteBase, layout.targetDir),
        },
        stdout: request.stdout,
        stderr: request.stderr,
        signal: request.signal,
        slots: request.slots,
      });

    let result = await timePhase('cargo', () => run(synced.state));
    if (result.status === 'stale') {
      log('worker copy changed before the run; syncing again');
      synced = await sync(undefined);
      await saveWorkerState(stateFile, synced.state);
      result = await run(synced.state);
    }
    if (result.status === 'stale') {
      throw new RchError('RCH_SYNC', `worker ${worker.id} changed the synced copy of ${layout.workspaceRoot} twice in a row`, {
        hint: `check whether another tool writes under remote_base (${worker.remoteBase}) on the worker`,
      });
    }
    const exitCode = result.status === 'exited' ? result.exitCode : 128 + signalNumber(result.signal);
    // An interrupted build leaves the local target directory as it was.
    if (request.signal.aborted) return { exitCode, filesSent: synced.filesSent, artifactsPulled: 0 };

    const pulled = await pullArtifacts({
      connection,
      remoteTargetDir: toRemotePath(synced.state.remoteBase, layout.targetDir),
      localTargetDir: layout.targetDir,
    });
    log('sent %d paths, pulled %d artifacts (%d bytes)', synced.filesSent, pulled.files, pulled.bytes);
    return { exitCode, filesSent: synced.filesSent, artifactsPulled: pulled.files };
  } catch (error) {
    broken = isTransportFault(error);
    throw error;
  } finally {
    lease?.release(broken);
    await release();
  }
}

function signalNumber(signal: string): number {
  const numbers: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, TERM: 15 };
  return numbers[signal.replace(/^SIG/, '')] ?? 1;
}

