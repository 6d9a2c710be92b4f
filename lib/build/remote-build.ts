import type { WorkerConfig, ProjectConfig } from '../config/types.js';
import type { RchPaths } from '../config/paths.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { readProjectLayout, type ProjectLayout } from '../sync/cargo-metadata.js';
import { scanTree } from '../sync/scan-tree.js';
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
import { runRemoteCargo, type RemoteCargoResult } from '../remote/run-remote-cargo.js';
import { selectForwardedEnv } from '../remote/forward-env.js';
import { toRemotePath } from '../remote/remote-path.js';
import { pullArtifacts } from '../artifacts/pull-artifacts.js';
import { mapArgsForWorker } from './cargo-args.js';
import { terminalEnv } from './terminal-env.js';
import { acquireFileLock } from '../util/file-lock.js';
import { RchError } from '../errors.js';
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
  let connection: SshConnection | undefined;
  try {
    const scanStartNs = BigInt(Date.now()) * 1_000_000n;
    const [scanned, index, previous] = await Promise.all([
      scanTree({ roots: layout.roots, excludedFolders: [layout.targetDir], extraExcludes: request.project.exclude }),
      FileIndex.load(indexFileFor(request.paths.cache, projectKey)),
      loadWorkerState(stateFile),
    ]);
    const fingerprints = await index.fingerprint(scanned, scanStartNs);
    await index.save();

    connection = await connectWorker(worker, { paths: request.paths, env: request.env });
    const sync = (prior: WorkerProjectState | undefined) =>
      syncProject({
        connection: connection as SshConnection,
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
        connection: connection as SshConnection,
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
      });

    let result = await run(synced.state);
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

    const pulled = await pullArtifacts({
      connection,
      remoteTargetDir: toRemotePath(synced.state.remoteBase, layout.targetDir),
      localTargetDir: layout.targetDir,
    });
    log('sent %d paths, pulled %d artifacts (%d bytes)', synced.filesSent, pulled.files, pulled.bytes);
    return { exitCode, filesSent: synced.filesSent, artifactsPulled: pulled.files };
  } finally {
    connection?.close();
    await release();
  }
}

function signalNumber(signal: string): number {
  const numbers: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, ABRT: 6, KILL: 9, SEGV: 11, PIPE: 13, TERM: 15 };
  return numbers[signal.replace(/^SIG/, '')] ?? 1;
}

