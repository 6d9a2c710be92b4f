import { spawn } from 'node:child_process';
import os from 'node:os';
import { RchError } from '../errors.js';

const RELAYED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Runs the real cargo on this machine with the terminal's stdio. Signals sent to rch reach
 * cargo, and the result is cargo's exit code, or 128 + the signal number when a signal ended it.
 */
export function runLocalCargo(realCargo: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(realCargo, args, { stdio: 'inherit', env });
    const relay = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of RELAYED_SIGNALS) process.on(signal, relay);
    const detach = () => {
      for (const signal of RELAYED_SIGNALS) process.off(signal, relay);
    };

    child.on('error', (error) => {
      detach();
      reject(
        new RchError('RCH_REAL_CARGO_NOT_FOUND', `cannot run the real cargo at ${realCargo}: ${error.message}`, {
          cause: error,
          hint: 'set RCH_REAL_CARGO to the path of cargo, for example ~/.cargo/bin/cargo',
        }),
      );
    });
    child.on('exit', (code, signal) => {
      detach();
      if (signal) resolve(128 + (os.constants.signals[signal] ?? 1));
      else resolve(code ?? 1);
    });
  });
}
