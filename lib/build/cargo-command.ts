import os from 'node:os';
import path from 'node:path';
import { classifyCargoArgs } from '../shim/classify.js';
import { loadFleetConfig, type FleetConfig } from '../config/workers.js';
import { loadProjectConfig } from '../config/project.js';
import type { RchPaths } from '../config/paths.js';
import { readProjectLayoutCached } from '../sync/layout-cache.js';
import { selectBuildRunner } from '../daemon/build-runner.js';
import { findToolchainRequest, type ToolchainRequest } from '../workers/toolchain-file.js';
import { runLocalCargo } from './run-local-cargo.js';
import { runOnFleet } from './run-on-fleet.js';
import { parseBuildArgs } from './cargo-args.js';
import { findRealCargo } from './find-real-cargo.js';
import { recordBuild, type BuildRecord } from './build-history.js';
import { describeError, formatError, RchError } from '../errors.js';
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

  let fleet: FleetConfig;
  try {
    fleet = await loadFleetConfig(context.paths, env);
  } catch (error) {
    if (requireRemote) context.stderr.write(`${formatError(error)}\n`);
    return fallBack(describeError(error), error instanceof RchError ? error.hint : undefined);
  }
  const workersFile = path.join(context.paths.config, 'workers.toml');
  const pinnedWorkerId = env.RCH_WORKER || undefined;
  if (pinnedWorkerId === undefined && !fleet.workers.some((worker) => worker.enabled)) {
    return fallBack(`no enabled worker in ${workersFile}`, `add one with: rch workers add ID --host HOST`);
  }

  const parsed = parseBuildArgs(args, invocation.subcommandIndex, cwd);
  let layout;
  let project;
  let toolchain: ToolchainRequest | undefined;
  try {
    layout = await readProjectLayoutCached({ realCargo, cwd, env, cargoArgs: parsed.metadataArgs }, context.paths.cache);
    if (parsed.targetDir) layout = { ...layout, targetDir: parsed.targetDir };
    workspaceRoot = layout.workspaceRoot;
    project = await loadProjectConfig(cwd, layout.workspaceRoot);
    toolchain = await findToolchainRequest(cwd, invocation.toolchain);
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
  try {
    const outcome = await runOnFleet({
      build: {
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
      },
      workers: fleet.workers,
      settings: fleet.settings,
      subcommand: invocation.subcommand,
      pinnedWorkerId,
      toolchain,
      notice: (message) => context.stderr.write(`rch: ${message}\n`),
      runBuild: await selectBuildRunner(context.paths, env, context.stderr),
    });
    // Interrupted like a local cargo would be: 128 + the signal, whatever the worker reported.
    if (controller.signal.aborted) return exitCodeForSignal(controller.signal.reason);
    if (outcome.status === 'unavailable') return fallBack(outcome.reason, outcome.hint);
    await record({
      outcome: 'remote',
      worker: outcome.worker.id,
      exitCode: outcome.result.exitCode,
      filesSent: outcome.result.filesSent,
      artifactsPulled: outcome.result.artifactsPulled,
    });
    return outcome.result.exitCode;
  } catch (error) {
    if (controller.signal.aborted) return exitCodeForSignal(controller.signal.reason);
    throw error;
  } finally {
    for (const signal of INTERRUPT_SIGNALS) process.off(signal, interrupt);
  }
}
