import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll } from 'vitest';
import { createPackagedCratesProject, type Fixture } from '../helpers/fixtures.js';
import type { ClientHome, SshdWorker } from '../helpers/sshd.js';
import { workerCopyOf } from '../helpers/remote-copy.js';

const REAL_CARGO = '/root/.cargo/bin/cargo';

const temporaryFolders = new Set<string>();

afterAll(async () => {
  await Promise.all([...temporaryFolders].map((folder) => rm(folder, { recursive: true, force: true })));
  temporaryFolders.clear();
});

/** Creates an empty folder that is removed when the test file ends. */
export async function createScratchFolder(): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'rch-scratch-'));
  temporaryFolders.add(folder);
  return folder;
}

/** Creates a folder of executable scripts, for a worker's PATH through sshd's SetEnv. */
export async function createFakeCommands(scripts: Record<string, string>): Promise<string> {
  const folder = await createScratchFolder();
  for (const [name, text] of Object.entries(scripts)) {
    await writeFile(path.join(folder, name), text);
    await chmod(path.join(folder, name), 0o755);
  }
  return folder;
}

/** Returns a PATH for sshd's SetEnv with `folder` ahead of the system folders. */
export function pathWithFirst(folder: string): string {
  return [folder, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
}

/** Appends top-level settings (`[slots]`, `queue_timeout_secs`) to a client's workers.toml. */
export async function appendFleetSettings(client: ClientHome, text: string): Promise<void> {
  const current = await readFile(client.workersToml, 'utf8');
  // Top-level keys must come before the first table, while tables may follow the last one.
  const [keys, tables] = text.split(/^(?=\[)/m).reduce<[string, string]>(
    ([keyText, tableText], part) => (part.startsWith('[') ? [keyText, tableText + part] : [keyText + part, tableText]),
    ['', ''],
  );
  await writeFile(client.workersToml, `${keys}\n${current}\n${tables}`);
}

let template: Promise<string> | undefined;

/**
 * Builds the packaged-crates project once per test file with the local cargo and returns its
 * target folder, whose dependencies later builds reuse through hard links.
 */
export function buildPackagedTemplate(): Promise<string> {
  template ??= (async () => {
    const project = await createPackagedCratesProject();
    const env = { ...process.env };
    delete env.CARGO_TARGET_DIR;
    await execa(REAL_CARGO, ['build', '-q'], { cwd: project.root, env });
    return path.join(project.root, 'target');
  })();
  return template;
}

/**
 * Fills `targetDir` with hard links to the template's compiled dependencies, so that a build
 * there compiles only the `packaged` crate. The template's own `packaged` outputs are left out,
 * because a build writes those, and the linker could write through a shared inode.
 */
export async function warmTargetDir(templateTarget: string, targetDir: string): Promise<void> {
  await mkdir(path.join(targetDir, 'debug'), { recursive: true });
  for (const folder of ['deps', 'build', '.fingerprint']) {
    await execa('cp', ['-al', path.join(templateTarget, 'debug', folder), path.join(targetDir, 'debug', folder)]);
    for (const name of await readdir(path.join(targetDir, 'debug', folder))) {
      if (name.startsWith('packaged') || name.startsWith('libpackaged')) {
        await rm(path.join(targetDir, 'debug', folder, name), { recursive: true, force: true });
      }
    }
  }
}

/**
 * Creates a packaged-crates project whose local target and the target of each worker's copy are
 * warm. Its build script sleeps `holdSecs`, so that a build keeps its slot at least that long
 * and concurrent builds overlap however slowly they start.
 */
export async function createWarmPackagedProject(workers: SshdWorker[], holdSecs = 2): Promise<Fixture> {
  const templateTarget = await buildPackagedTemplate();
  const project = await createPackagedCratesProject();
  const manifest = path.join(project.root, 'Cargo.toml');
  await writeFile(manifest, (await readFile(manifest, 'utf8')).replace('edition = "2021"\n', 'edition = "2021"\nbuild = "build.rs"\n'));
  await writeFile(path.join(project.root, 'build.rs'), `fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(${holdSecs}));\n}\n`);
  await warmTargetDir(templateTarget, path.join(project.root, 'target'));
  for (const worker of workers) await warmTargetDir(templateTarget, workerCopyOf(worker.remoteBase, path.join(project.root, 'target')));
  return project;
}

/**
 * Counts, every few milliseconds, the rustc compile jobs under each worker's remote_base
 * (`--out-dir` lies below it), and keeps the highest count.
 */
export class RustcSampler {
  readonly highest = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  samples = 0;

  constructor(private readonly workers: SshdWorker[], intervalMs = 20) {
    for (const worker of workers) this.highest.set(worker.workerId, 0);
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const jobs = new Map<number, { parent: number; workerId: string }>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let argv: string[];
      let stat: string;
      try {
        if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'rustc') continue;
        argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      } catch {
        continue;
      }
      const outDir = argv.includes('--crate-name') ? (argv[argv.indexOf('--out-dir') + 1] ?? '') : '';
      const worker = this.workers.find((candidate) => outDir.startsWith(`${candidate.remoteBase}/`));
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (worker) jobs.set(Number(name), { parent, workerId: worker.workerId });
    }
    const counts = new Map<string, number>();
    for (const job of jobs.values()) {
      // rustc forks to start its linker, and until the exec the child looks like rustc itself.
      if (jobs.has(job.parent)) continue;
      counts.set(job.workerId, (counts.get(job.workerId) ?? 0) + 1);
    }
    for (const [id, count] of counts) this.highest.set(id, Math.max(this.highest.get(id) ?? 0, count));
    this.samples += 1;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Lists files under `folder` whose names mark an unfinished atomic write (`.NAME.rch-XXXX.tmp`). */
export async function findTemporaryFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await visit(full);
      else if (/^\..*\.rch-[0-9a-f]+\.tmp$/.test(entry.name)) found.push(full);
    }
  };
  await visit(folder);
  return found;
}
