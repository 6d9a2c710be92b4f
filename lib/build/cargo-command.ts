import os from 'node:os';
import path from 'node:path';
import { classifyCargoArgs } from '../shim/classify.js';
import { loadWorkers } from '../config/workers.js';
import { loadProjectConfig } from '../config/project.js';
import type { RchPaths } from '../config/paths.js';
import type { WorkerConfig } from '../config/types.js';
import { readProjectLayout } from '../sync/cargo-metadata.js';
import { runLocalCargo } from './run-local-cargo.js';
import { runRemoteBuild } from './remote-build.js';
import { parseBuildArgs } from './cargo-args.js';
import { findRealCargo } from './find-real-cargo.js';
import { recordBuild, type BuildRecord } from './build-history.js';
import { describeError, formatError, isTransportFault, RchError } from '../errors.js';
import { createLogger } from '../debug.js';

const log = createLogger('cargo');

/** Exit code when `RCH_REQUIRE_REMOTE=1` is set and no worker can run the build (EX_TEMPFAIL). */
export const EXIT_REMOTE_UNAVAILABLE = 75;

const INTERRUPT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface CargoCommandContext {
  paths: RchPaths;
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

function exitCodeForSignal(signal: unknown): number {
  const number = typeof signal === 'string' ? os.constants.signals[signal as NodeJS.Signals] : undefined;
  return 128 + (number ?? os.constants.signals.SIGINT);
}

/** Workers a build may use, best first: enabled ones by descending priority. */
function usableWorkers(workers: WorkerConfig[]): WorkerConfig[] {
  return workers.filter((worker) => worker.enabled).sort((left, right) => right.priority - left.priority);
}

/**
 * Runs one cargo command the way the shim hands it over: remotely when it is a compile
 * subcommand and a worker can serve, otherwise with the local cargo.
 */
export async function runCargoCommand(args: string[], context: CargoCommandContext): Promise<number> {
  const { env, cwd } = context;
  const realCargo = findRealCargo(env);
  const local = () => runLocalCargo(realCargo, args, env);
  const invocation = classifyCargoArgs(args);
  if (env.RCH_DISABLE === '1' || invocation.route === 'local') return local();

  const requireRemote = env.RCH_REQUIRE_REMOTE === '1';
  const startedAt = Date.now();
  let workspaceRoot: string | undefined;
  const record = (fields: Pick<BuildRecord, 'outcome' | 'worker' | 'exitCode'> & Partial<BuildRecord>) =>
    recordBuild(context.paths.state, {
      finishedAt: new Date().toISOString(),
      workspaceRoot,
      subcommand: invocation.subcommand,
      durationMs: Date.now() - startedAt,
      ...fields,
    }).catch((error: unknown) => log('cannot record the build: %s', error));
  const fallBack = async (reason: string, hint?: string): Promise<number> => {
    if (requireRemote) {
      context.stderr.write(`rch: ${reason}; RCH_REQUIRE_REMOTE=1 forbids a local build\n`);
      if (hint) context.stderr.write(`  hint: ${hint}\n`);
      await record({ outcome: 'refused', worker: undefined, exitCode: EXIT_REMOTE_UNAVAILABLE, reason });
      return EXIT_REMOTE_UNAVAILABLE;
    }
    context.stderr.write(`rch: ${reason}; building locally\n`);
    const exitCode = await local();
    await record({ outcome: 'fallback', worker: undefined, exitCode, reason });
    return exitCode;
  };

  let workers: WorkerConfig[];
  try {
    workers = usableWorkers(await loadWorkers(context.paths, env));
  } catch (error) {
    if (requireRemote) context.stderr.write(`${formatError(error)}\n`);
    return fallBack(describeError(error), error instanceof RchError ? error.hint : undefined);
  }
  const workersFile = path.join(context.paths.config, 'workers.toml');
  if (workers.length === 0) {
    return fallBack(`no enabled worker in ${workersFile}`, `add a [[workers]] entry to ${workersFile}`);
  }

  const parsed = parseBuildArgs(args, invocation.subcommandIndex, cwd);
  let layout;
  let project;
  try {
    layout = await readProjectLayout({ realCargo, cwd, env, cargoArgs: parsed.metadataArgs });
    if (parsed.targetDir) layout = { ...layout, targetDir: parsed.targetDir };
    workspaceRoot = layout.workspaceRoot;
    project = await loadProjectConfig(cwd, layout.workspaceRoot);
  } catch (error) {
    return fallBack(describeError(error), error instanceof RchError ? error.hint : undefined);
  }
  if (project.forceLocal) {
    log('force_local is set in %s', project.source);
    return local();
  }

  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    log('received %s, stopping the remote build', signal);
    controller.abort(signal);
  };
  for (const signal of INTERRUPT_SIGNALS) process.on(signal, interrupt);
  let lastFault: unknown;
  try {
    for (const worker of workers) {
      if (controller.signal.aborted) break;
      try {
        const result = await runRemoteBuild({
          worker,
          paths: context.paths,
          env,
          cwd,
          args,
          subcommandIndex: invocation.subcommandIndex,
          layout,
          project,
          stdout: (chunk) => context.stdout.write(chunk),
          stderr: (chunk) => context.stderr.write(chunk),
          signal: controller.signal,
        });
        // Interrupted like a local cargo would be: 128 + the signal, whatever the worker reported.
        if (controller.signal.aborted) return exitCodeForSignal(controller.signal.reason);
        await record({
          outcome: 'remote',
          worker: worker.id,
          exitCode: result.exitCode,
          filesSent: result.filesSent,
          artifactsPulled: result.artifactsPulled,
        });
        return result.exitCode;
      } catch (error) {
        if (!isTransportFault(error)) throw error;
        log('worker %s failed: %s', worker.id, error);
        lastFault = error;
      }
    }
  } finally {
    for (const signal of INTERRUPT_SIGNALS) process.off(signal, interrupt);
  }
  if (controller.signal.aborted) return exitCodeForSignal(controller.signal.reason);
  return fallBack(describeError(lastFault), lastFault instanceof RchError ? lastFault.hint : undefined);
}
