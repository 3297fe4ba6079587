import { test } from 'node:test';
import { assertSeedsPass } from './sim-seeds.ts';

test('simulated clusters converge after loss, duplication, reordering, partitions, crashes and hostile packets (seeds 1-100)', () => {
  assertSeedsPass(1, 100);
});
