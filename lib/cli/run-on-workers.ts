import type { WorkerConfig } from '../config/types.js';
import { connectWorker, type SshConnection } from '../ssh/connection.js';
import { isRchError } from '../errors.js';
import type { CommandContext } from './command-args.js';

/** The result of one worker's part of a command, or the error that stopped it. */
export type WorkerOutcome<T> =
  | { id: string; ok: true; result: T }
  | { id: string; ok: false; error: { code: string; message: string; hint: string | null } };

/**
 * Connects to each worker in parallel and runs `task` over the connection. A failure on one
 * worker (unreachable, agent or rustup failure) is recorded in its outcome and does not stop
 * the others. Bugs are still thrown.
 */
export function runOnWorkers<T>(
  workers: WorkerConfig[],
  context: CommandContext,
  task: (connection: SshConnection, worker: WorkerConfig) => Promise<T>,
): Promise<Array<WorkerOutcome<T>>> {
  return Promise.all(
    workers.map(async (worker): Promise<WorkerOutcome<T>> => {
      let connection: SshConnection | undefined;
      try {
        connection = await connectWorker(worker, { paths: context.paths, env: context.env });
        return { id: worker.id, ok: true, result: await task(connection, worker) };
      } catch (error) {
        if (!isRchError(error) || error.kind === 'internal') throw error;
        return { id: worker.id, ok: false, error: { code: error.code, message: error.message, hint: error.hint ?? null } };
      } finally {
        connection?.close();
      }
    }),
  );
}

/** Prints `ID: message` and the hint of each failed outcome to stderr. */
export function reportFailures<T>(outcomes: Array<WorkerOutcome<T>>, context: CommandContext): void {
  for (const outcome of outcomes) {
    if (outcome.ok) continue;
    context.stderr.write(`rch: ${outcome.id}: ${outcome.error.message}\n`);
    if (outcome.error.hint) context.stderr.write(`  hint: ${outcome.error.hint}\n`);
  }
}
