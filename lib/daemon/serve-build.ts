import { runRemoteBuild } from '../build/remote-build.js';
import { captureTimings } from '../build/phase-timings.js';
import { terminalEnv } from '../build/terminal-env.js';
import { describeError } from '../errors.js';
import type { ConnectionPool } from './connection-pool.js';
import type { ProjectWatchers } from './project-watchers.js';
import type { DaemonLog } from './daemon-log.js';
import { toWireError, type BuildRequestData, type DaemonMessage, type TerminalInfo } from './protocol.js';

export interface BuildServices {
  pool: ConnectionPool;
  watchers: ProjectWatchers;
  log: DaemonLog;
}

/**
 * Returns the client's terminal settings for the worker's cargo. runRemoteBuild derives them
 * from the stderr of the process it runs in, which in the daemon is the log file. So the daemon
 * writes them into the environment: terminalEnv for the client's terminal, and cargo's default
 * `auto` for each setting left unset. runRemoteBuild then finds both variables set and adds none.
 */
export function clientTerminalEnv(env: Record<string, string>, args: string[], terminal: TerminalInfo): Record<string, string> {
  const settings = terminalEnv(env, args, terminal);
  if (env.CARGO_TERM_COLOR === undefined) settings.CARGO_TERM_COLOR ??= 'auto';
  if (env.CARGO_TERM_PROGRESS_WHEN === undefined) settings.CARGO_TERM_PROGRESS_WHEN ??= 'auto';
  return settings;
}

/**
 * Runs one build for a client with a pooled connection and the project's watched tree. Output
 * goes to `send` as it arrives, then one `result` or `error` message.
 */
export async function serveBuild(
  id: string,
  data: BuildRequestData,
  send: (message: DaemonMessage) => void,
  signal: AbortSignal,
  services: BuildServices,
): Promise<void> {
  const { pool, watchers, log } = services;
  const started = Date.now();
  const env = { ...data.env, ...clientTerminalEnv(data.env, data.args, data.terminal) };
  log.info('build %s: cargo %s in %s on worker %s', id, data.args.join(' '), data.cwd, data.worker.id);
  const { value: outcome, timings } = await captureTimings(() =>
    runRemoteBuild({
      worker: data.worker,
      paths: data.paths,
      env,
      cwd: data.cwd,
      args: data.args,
      subcommandIndex: data.subcommandIndex,
      layout: data.layout,
      project: data.project,
      ...(data.slots ? { slots: data.slots } : {}),
      stdout: (chunk) => send({ type: 'stdout', data: chunk.toString('base64') }),
      stderr: (chunk) => send({ type: 'stderr', data: chunk.toString('base64') }),
      signal,
      connect: (worker) => pool.lease(worker, { paths: data.paths, env }),
      snapshotTree: (layout, project, projectKey) => watchers.snapshot({ layout, project, projectKey, cacheFolder: data.paths.cache }),
    }).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    ),
  );

  if ('result' in outcome) {
    const { result } = outcome;
    log.info(
      'build %s: exit %d after %d ms, %d paths sent, %d artifacts pulled',
      id, result.exitCode, Date.now() - started, result.filesSent, result.artifactsPulled,
    );
    send({ type: 'result', result, timings });
    return;
  }
  if (signal.aborted) log.info('build %s: aborted (%s) after %d ms', id, describeError(signal.reason), Date.now() - started);
  else log.error(outcome.error, 'build %s: failed after %d ms', id, Date.now() - started);
  send({ type: 'error', error: toWireError(outcome.error), timings });
}
