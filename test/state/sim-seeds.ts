import assert from 'node:assert/strict';
import { runSeed } from '../../src/state/sim/scenario.ts';

/** Runs seeds `from..from+count-1`; a failure names each failing seed and how to replay it. */
export function assertSeedsPass(from: number, count: number): void {
  const failures: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const result = runSeed(seed);
    if (result.violations.length > 0) {
      failures.push(`seed ${seed}: ${result.violations.slice(0, 3).join('; ')}\n  replay: npm run sim -- --seed ${seed}`);
    }
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}
