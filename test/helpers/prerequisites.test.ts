import assert from 'node:assert/strict';
import { test } from 'node:test';
import { skipUnlessAvailable } from './prerequisites.ts';

test('a missing prerequisite skips with the reason, except in CI as root where it fails', () => {
  assert.equal(skipUnlessAvailable([], { ci: true, root: true }), false);
  assert.equal(skipUnlessAvailable(['wireguard-go'], { ci: false, root: true }), 'needs wireguard-go');
  assert.equal(skipUnlessAvailable(['root'], { ci: true, root: false }), 'needs root', 'CI without root cannot run root-only tests');
  assert.throws(() => skipUnlessAvailable(['wireguard-go', 'nft'], { ci: true, root: true }), /must not be skipped, but it needs wireguard-go, nft/);
});
