import { quoteShellWord } from './shell-quote.js';
import { toRemotePath } from './remote-path.js';

/**
 * Exit codes and first stderr lines by which the run script reports that cargo did not start,
 * so that they are never mistaken for cargo's own exit status.
 */
export const RUN_OUTCOME_MARKERS = {
  /** The worker's copy is not what rch synced: sync again. */
  stale: { exitCode: 213, marker: 'rch-stale-worker-copy' },
  /** `rch-wkr slots acquire` found no free slots in time (worker/rch-wkr prints this marker). */
  busy: { exitCode: 214, marker: 'rch-slots-busy' },
  /** The agent or flock is missing on the worker. */
  notReady: { exitCode: 215, marker: 'rch-worker-not-ready' },
  /** The agent rejected its arguments (worker/rch-wkr's usage errors). */
  agentUsage: { exitCode: 64, marker: 'rch-wkr:' },
} as const;

/** Seconds an interrupted remote cargo gets to exit before its process group is killed. */
export const ABORT_GRACE_SECONDS = 5;

/** Build slots to hold on the worker while cargo runs (see worker/README.md). */
export interface SlotRequest {
  /** Slots this build takes. Cargo's jobs are capped at this number. */
  count: number;
  /** The worker's total_slots. */
  total: number;
  /** Seconds to wait for free slots, where 0 tries once. */
  waitSecs: number;
}

export interface RunScriptOptions {
  /** Resolved `remote_base` (no `~`). */
  remoteBase: string;
  projectKey: string;
  /** Marker token of the last sync. The run does not start when the worker's marker contains another. */
  token: string;
  roots: string[];
  /** Local working directory; cargo runs in its worker twin. */
  cwd: string;
  env: Record<string, string>;
  slots?: SlotRequest;
}

/**
 * Builds the shell code run on the worker, with cargo's arguments as "$@". With a slot request,
 * the agent first takes the slots and runs the rest while it holds them. The rest takes a shared
 * lock on the project, which `rch-wkr gc` needs exclusively. Then it checks the marker and
 * roots, records the project's folders for gc, and runs cargo with the given environment.
 */
export function buildRunScript(options: RunScriptOptions): string {
  const { stale, notReady } = RUN_OUTCOME_MARKERS;
  const projects = `${options.remoteBase}/.rch/projects`;
  const marker = quoteShellWord(`${projects}/${options.projectKey}`);
  const rootChecks = options.roots.map((root) => `[ -d ${quoteShellWord(toRemotePath(options.remoteBase, root))} ]`);
  const recorded = options.roots.map((root) => toRemotePath(options.remoteBase, root));
  if (options.env.CARGO_TARGET_DIR) recorded.push(options.env.CARGO_TARGET_DIR);
  const assignments = Object.entries(options.env).map(([name, value]) => quoteShellWord(`${name}=${value}`));
  const cwd = quoteShellWord(toRemotePath(options.remoteBase, options.cwd));

  const run = [
    `mkdir -p ${quoteShellWord(projects)} && exec 9>>${marker}.lock || exit ${notReady.exitCode}`,
    `flock -s 9 || { echo '${notReady.marker}: flock failed, install util-linux on the worker' >&2; exit ${notReady.exitCode}; }`,
    `if [ "$(cat ${marker} 2>/dev/null)" != ${quoteShellWord(options.token)} ] || ! { ${rootChecks.join(' && ') || 'true'}; }; then`,
    `  echo ${stale.marker} >&2; exit ${stale.exitCode}`,
    'fi',
    // The record's modification time is the project's last use, by which gc orders projects.
    `printf '%s\\n' ${recorded.map(quoteShellWord).join(' ')} >${marker}.roots.tmp && mv -f ${marker}.roots.tmp ${marker}.roots`,
    `mkdir -p ${cwd} && cd ${cwd} || exit ${stale.exitCode}`,
    'case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH"; export PATH ;; esac',
    // Cargo runs in a process group of its own. A watcher reads stdin, which rch keeps open for
    // the whole build: end of input (rch aborted, or the connection dropped) interrupts that
    // group, then kills it. sshd ignores signal requests in root sessions, so this is the one
    // way to stop a remote build that works for every user.
    'exec 3<&0',
    `setsid env ${assignments.join(' ')} cargo "$@" </dev/null 3<&- &`,
    'cargo_pid=$!',
    `setsid sh -c 'cat >/dev/null; kill -INT -"$1" 2>/dev/null; sleep ${ABORT_GRACE_SECONDS}; kill -KILL -"$1" 2>/dev/null' rch-watch "$cargo_pid" <&3 >/dev/null 2>&1 &`,
    'watcher_pid=$!',
    'exec 3<&-',
    'wait "$cargo_pid"; status=$?',
    'kill -KILL -"$watcher_pid" 2>/dev/null',
    'exit "$status"',
  ].join('\n');
  if (options.slots === undefined) return run;

  const { count, total, waitSecs } = options.slots;
  const agent = quoteShellWord(`${options.remoteBase}/.rch/bin/rch-wkr`);
  return [
    `[ -x ${agent} ] || { echo '${notReady.marker}: the rch agent is not installed' >&2; exit ${notReady.exitCode}; }`,
    `exec ${agent} slots acquire ${count} ${total} --timeout ${waitSecs} --base ${quoteShellWord(options.remoteBase)} --label ${quoteShellWord(options.projectKey)} -- sh -c ${quoteShellWord(run)} rch-cargo "$@"`,
  ].join('\n');
}

/** Cargo's job count and test threads, capped at the slots granted unless the user chose them. */
export function capJobs(env: Record<string, string>, slots: SlotRequest | undefined): Record<string, string> {
  if (slots === undefined) return env;
  const count = String(slots.count);
  // A `-j` on the command line still wins, because cargo prefers it over CARGO_BUILD_JOBS.
  return {
    ...env,
    CARGO_BUILD_JOBS: env.CARGO_BUILD_JOBS ?? count,
    RUST_TEST_THREADS: env.RUST_TEST_THREADS ?? count,
    NEXTEST_TEST_THREADS: env.NEXTEST_TEST_THREADS ?? count,
  };
}
