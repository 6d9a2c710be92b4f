#!/usr/bin/env node
// Runs rch's benchmarks against loopback sshd workers and prints the figures.
//
//   npm run bench                     build, then run every benchmark
//   node bench/run.mjs P3             run one (after `npm run build`)
//   node bench/run.mjs P2 P4 --runs 7 more runs per measured case (default 5)
//
// Each run also writes bench/results/<time>.json and bench/results/<time>.md; BENCHMARKS.md
// records the figures of a full run. Only 127.0.0.1 is ever contacted.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCleanups } from './lib/cleanup.mjs';
import { currentLoad, describeMachine } from './lib/machine.mjs';
import { PACKAGED_CRATE_PACKAGES } from './lib/projects.mjs';
import { formatResultMarkdown, formatResultText } from './lib/report.mjs';
import { DEFAULT_RUNS } from './lib/stats.mjs';
import { repoRoot } from './lib/worker.mjs';
import * as p1 from './p1-passthrough.mjs';
import * as p2 from './p2-noop-build.mjs';
import * as p3 from './p3-large-tree.mjs';
import * as p4 from './p4-bytes-back.mjs';
import * as p5 from './p5-clean-build.mjs';
import * as p6 from './p6-daemon.mjs';

const BENCHMARKS = [p1, p2, p3, p4, p5, p6];

function parseArguments(argv) {
  const selected = [];
  let runs = Number(process.env.BENCH_RUNS) || DEFAULT_RUNS;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--runs') {
      runs = Number(argv[++index]);
      if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs needs a positive whole number, got ${argv[index]}`);
    } else if (/^P\d$/i.test(arg)) {
      const benchmark = BENCHMARKS.find((candidate) => candidate.id === arg.toUpperCase());
      if (!benchmark) throw new Error(`unknown benchmark ${arg}; choose from ${BENCHMARKS.map((b) => b.id).join(', ')}`);
      selected.push(benchmark);
    } else {
      throw new Error(`unknown argument ${arg}; usage: node bench/run.mjs [P1 … P6] [--runs N]`);
    }
  }
  return { selected: selected.length > 0 ? selected : BENCHMARKS, runs };
}

function findRealCargo() {
  const candidates = [process.env.RCH_REAL_CARGO, path.join(process.env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'bin', 'cargo')];
  const found = candidates.find((candidate) => candidate && existsSync(candidate));
  if (!found) throw new Error('cargo not found in $CARGO_HOME/bin or ~/.cargo/bin; install Rust with rustup or set RCH_REAL_CARGO');
  return found;
}

/** Builds the environment every benchmark starts from: the real cargo first on PATH, no RCH_ variable set. */
function baseEnvironment(realCargo) {
  const env = { ...process.env, PATH: `${path.dirname(realCargo)}:${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  for (const name of Object.keys(env)) if (name.startsWith('RCH_') || name === 'DEBUG') delete env[name];
  return env;
}

async function main() {
  const { selected, runs } = parseArguments(process.argv.slice(2));
  if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing; run `npm run build` first');
  execFileSync('sh', [path.join(repoRoot, 'bench', 'prerequisites.sh'), ...PACKAGED_CRATE_PACKAGES], { stdio: 'inherit' });
  const realCargo = findRealCargo();
  const machine = describeMachine(realCargo);
  const command = `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
  process.stdout.write(`${JSON.stringify(machine, null, 2)}\n\n`);

  const results = [];
  let failed = false;
  for (const benchmark of selected) {
    process.stderr.write(`bench: running ${benchmark.id}\n`);
    const loadBefore = currentLoad();
    let outcome;
    try {
      outcome = await benchmark.run({ realCargo, env: baseEnvironment(realCargo), runs });
    } catch (error) {
      failed = true;
      outcome = { skipped: `failed: ${error instanceof Error ? error.message : error}`, rows: [], targets: [], notes: [] };
    } finally {
      await runCleanups();
    }
    const result = { id: benchmark.id, title: benchmark.title, runs, ...outcome, loadBefore, loadAfter: currentLoad() };
    results.push(result);
    process.stdout.write(formatResultText(result));
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(repoRoot, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, `${stamp}.json`), `${JSON.stringify({ command, machine, results }, null, 2)}\n`);
  const markdown = [`Command: \`${command}\``, '', ...results.map(formatResultMarkdown)].join('\n');
  await writeFile(path.join(resultsDir, `${stamp}.md`), markdown);
  process.stdout.write(`\nbench: wrote bench/results/${stamp}.json and .md\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (error) => {
    await runCleanups();
    process.stderr.write(`bench: ${error instanceof Error ? error.message : error}\n`);
    process.exitCode = 2;
  },
);
