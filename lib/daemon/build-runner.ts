import type { RchPaths } from '../config/paths.js';
import { runRemoteBuild, type RemoteBuildRequest, type RemoteBuildResult } from '../build/remote-build.js';
import { describeError, isRchError } from '../errors.js';
import { ensureDaemon } from './client.js';

/** Runs one remote build; runRemoteBuild and the daemon client both fit. */
export type BuildRunner = (request: RemoteBuildRequest) => Promise<RemoteBuildResult>;

/** Formats the one-line notice printed when a build runs in the CLI process because the daemon cannot serve. */
export function formatDaemonNotice(reason: unknown): string {
  return `rch: the rch daemon is unavailable (${describeError(reason)}); syncing from this process instead\n`;
}

/**
 * Chooses how this command's remote builds run: in this user's daemon (started on demand),
 * or in this process when RCH_NO_DAEMON=1 is set or the daemon cannot serve, in which case
 * one notice line goes to `stderr`. A daemon that vanishes before a build starts is replaced
 * by the in-process path too; one that dies during a build raises RCH_DAEMON_LOST.
 */
export async function selectBuildRunner(paths: RchPaths, env: NodeJS.ProcessEnv, stderr: NodeJS.WritableStream): Promise<BuildRunner> {
  if (env.RCH_NO_DAEMON === '1') return runRemoteBuild;
  const client = await ensureDaemon(paths, env, { onUnavailable: (error) => stderr.write(formatDaemonNotice(error)) });
  if (!client) return runRemoteBuild;
  return async (request) => {
    try {
      return await client.runBuild(request);
    } catch (error) {
      if (!isRchError(error, 'RCH_DAEMON_UNAVAILABLE') && !isRchError(error, 'RCH_DAEMON_UNSAFE')) throw error;
      stderr.write(formatDaemonNotice(error));
      return runRemoteBuild(request);
    }
  };
}
