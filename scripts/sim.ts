/**
 * The state layer's deterministic simulator (see src/state/sim/). `npm run sim` runs one random
 * seed; `--seed N` replays one exactly; `--seeds K` runs K seeds starting at `--from` (default 1).
 */
import { parseArgs } from 'node:util';
import { runSeed } from '../src/state/sim/scenario.ts';

const { values } = parseArgs({ options: { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, verbose: { type: 'boolean' } } });
const seeds: number[] =
  values.seed !== undefined
    ? [Number(values.seed)]
    : values.seeds !== undefined
      ? Array.from({ length: Number(values.seeds) }, (_, i) => Number(values.from ?? 1) + i)
      : [Math.floor(Math.random() * 2 ** 31)];

let failed = 0;
const started = performance.now();
for (const seed of seeds) {
  const result = runSeed(seed);
  if (result.violations.length > 0) {
    failed++;
    console.error(`seed ${seed} FAILED (${JSON.stringify(result.plan)}):`);
    for (const v of result.violations.slice(0, 10)) console.error(`  ${v}`);
    console.error(`  replay: npm run sim -- --seed ${seed}`);
  } else if (values.verbose === true || seeds.length === 1) {
    console.log(`seed ${seed} ok: ${result.writes} writes, converged ${result.convergedAfterMs} ms after faults stopped (${JSON.stringify(result.plan)})`);
  }
}
console.log(`${seeds.length - failed}/${seeds.length} seeds passed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed === 0 ? 0 : 1);
