// P1: `cargo metadata --no-deps` through the shim against the real cargo. The shim execs the
// real cargo for every non-compile subcommand, so this measures one `sh` start. No worker is
// involved: the local route never reads workers.toml or opens a connection.
import path from 'node:path';
import { createTempDir } from './lib/cleanup.mjs';
import { runChecked } from './lib/command.mjs';
import { createTinyProject } from './lib/projects.mjs';
import { row, summarize, target } from './lib/stats.mjs';
import { shimsDir } from './lib/worker.mjs';

/** The shim's cost is a few milliseconds against a ~25 ms command, so more runs than elsewhere. */
const PASSTHROUGH_RUNS = 40;
const WARMUP_RUNS = 3;
const TARGET_RATIO = 1.05;

export const id = 'P1';
export const title = 'passthrough: `cargo metadata --no-deps` through the shim vs the real cargo';

export async function run({ realCargo, env }) {
  const project = await createTempDir('p1');
  await createTinyProject(project);
  const args = ['metadata', '--no-deps', '--format-version', '1'];
  const options = { cwd: project, env: { ...env, PATH: `${shimsDir}:${env.PATH}` } };
  const shim = path.join(shimsDir, 'cargo');

  for (let index = 0; index < WARMUP_RUNS; index++) {
    await runChecked(realCargo, args, options);
    await runChecked(shim, args, options);
  }
  const real = [];
  const shimmed = [];
  // Alternating the two keeps drift in the machine's load out of the ratio.
  for (let index = 0; index < PASSTHROUGH_RUNS; index++) {
    real.push((await runChecked(realCargo, args, options)).ms);
    shimmed.push((await runChecked(shim, args, options)).ms);
  }
  // The median of the per-pair ratios: each pair ran back to back, so load that changes over
  // the run cancels out, which the ratio of the two medians does not achieve on a busy machine.
  const pairRatios = shimmed.map((ms, index) => ms / real[index]);
  const ratio = summarize(pairRatios).median;
  const differences = shimmed.map((ms, index) => ms - real[index]);
  return {
    rows: [
      row('real cargo', 'ms', real),
      row('through the shim', 'ms', shimmed),
      row('shim - real cargo, per pair', 'ms', differences),
      row('shim / real cargo, per pair', 'ratio', pairRatios),
    ],
    targets: [target(`shim ≤ ${TARGET_RATIO}× the real cargo (median of pair ratios)`, ratio, ratio <= TARGET_RATIO)],
    notes: [`${PASSTHROUGH_RUNS} pairs of runs, each pair back to back, after ${WARMUP_RUNS} warm-up pairs.`],
  };
}
