import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RchPaths } from '../config/paths.js';
import { RchError } from '../errors.js';

/** Maximum Unix socket path: sun_path has room for 108 bytes on Linux and 104 on macOS, including the final NUL. */
const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;

/** Paths of this user's daemon: its socket, pid file, barrier files and log. */
export interface DaemonPaths {
  /** `$XDG_RUNTIME_DIR/rch`, or `<cache>/run` when XDG_RUNTIME_DIR is unset. Mode 0700. */
  runDir: string;
  /** `<runDir>/rchd.sock`, mode 0600. */
  socket: string;
  /** `<runDir>/rchd.pid`, created with link(2), which fails when it exists. It is the lock against a second daemon. */
  pidFile: string;
  /** `<runDir>/barrier`, where the file watcher's barrier files come and go. */
  barrierDir: string;
  /** `<state>/rchd.log`. */
  logFile: string;
}

export function resolveDaemonPaths(paths: RchPaths, env: NodeJS.ProcessEnv): DaemonPaths {
  const runtime = env.XDG_RUNTIME_DIR;
  // The XDG spec says a relative value is invalid and must be ignored.
  const runDir = runtime && path.isAbsolute(runtime) ? path.join(runtime, 'rch') : path.join(paths.cache, 'run');
  return {
    runDir,
    socket: path.join(runDir, 'rchd.sock'),
    pidFile: path.join(runDir, 'rchd.pid'),
    barrierDir: path.join(runDir, 'barrier'),
    logFile: path.join(paths.state, 'rchd.log'),
  };
}

function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/** Stats a path without following links; undefined when it does not exist, RCH_DAEMON_UNAVAILABLE when it cannot be read. */
async function lstatIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RchError('RCH_DAEMON_UNAVAILABLE', `cannot use ${file} for the daemon: ${code ?? String(error)}`, {
      cause: error,
      hint: 'set XDG_RUNTIME_DIR to a folder of your own, or unset it to use the cache folder',
    });
  }
}

function unsafe(message: string, hint: string): RchError {
  return new RchError('RCH_DAEMON_UNSAFE', message, { hint });
}

/**
 * Checks that the run folder and the socket, where they exist, belong to this user and that
 * no other user can replace the socket. Throws RCH_DAEMON_UNSAFE otherwise.
 */
export async function checkDaemonPaths(daemonPaths: DaemonPaths): Promise<void> {
  const uid = currentUid();
  const { runDir, socket } = daemonPaths;
  const folder = await lstatIfPresent(runDir);
  if (folder === undefined) return;
  if (!folder.isDirectory()) {
    throw unsafe(`the daemon folder ${runDir} is not a folder`, `remove ${runDir}; rch creates it again`);
  }
  if (folder.uid !== uid) {
    throw unsafe(
      `the daemon folder ${runDir} belongs to uid ${folder.uid}, not to you (uid ${uid})`,
      `remove ${runDir} as its owner, or set XDG_RUNTIME_DIR to a folder of your own`,
    );
  }
  if ((folder.mode & 0o022) !== 0) {
    throw unsafe(
      `the daemon folder ${runDir} is writable by other users (mode ${(folder.mode & 0o777).toString(8)})`,
      `chmod 700 ${runDir}`,
    );
  }
  const entry = await lstatIfPresent(socket);
  if (entry === undefined) return;
  if (!entry.isSocket()) {
    throw unsafe(`${socket} is not a socket`, `remove ${socket}; the daemon creates it again`);
  }
  if (entry.uid !== uid) {
    throw unsafe(
      `the daemon socket ${socket} belongs to uid ${entry.uid}, not to you (uid ${uid})`,
      `stop the process that owns it and remove ${socket}`,
    );
  }
}

/** Creates the run folder 0700 (or narrows an existing one of this user to 0700) and checks it. */
export async function prepareRunDir(daemonPaths: DaemonPaths): Promise<void> {
  const { runDir, socket } = daemonPaths;
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
    throw new RchError('RCH_DAEMON_UNAVAILABLE', `the daemon socket path ${socket} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`, {
      hint: 'set XDG_RUNTIME_DIR to a shorter folder, such as /run/user/$(id -u)',
    });
  }
  await fs.mkdir(runDir, { recursive: true, mode: 0o700 });
  const folder = await fs.lstat(runDir);
  if (folder.isDirectory() && folder.uid === currentUid() && (folder.mode & 0o077) !== 0) await fs.chmod(runDir, 0o700);
  await checkDaemonPaths(daemonPaths);
}
