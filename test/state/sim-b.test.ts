import { test } from 'node:test';
import { assertSeedsPass } from './sim-seeds.ts';

test('simulated clusters converge after loss, duplication, reordering, partitions, crashes and hostile packets (seeds 101-200)', () => {
  assertSeedsPass(101, 100);
});
