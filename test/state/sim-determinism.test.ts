import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSeed } from '../../src/state/sim/scenario.ts';

test('a seed replays exactly', () => {
  const a = runSeed(4242);
  const b = runSeed(4242);
  assert.deepEqual(a, b);
});
