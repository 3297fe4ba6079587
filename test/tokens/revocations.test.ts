// The revocation list verifiers keep: pushes, full refreshes from a source, and a source that fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { RevocationList, type RevocationSource } from '../../src/tokens/index.ts';
import { eventually } from '../helpers/eventually.ts';

function sourceOf(ids: string[]): RevocationSource & { ids: string[]; fail: boolean; calls: number } {
  const s = {
    ids,
    fail: false,
    calls: 0,
    async revokedIds() {
      s.calls++;
      if (s.fail) throw new Error('API down');
      return [...s.ids];
    },
  };
  return s;
}

describe('RevocationList', () => {
  it('refuses pushed ids at once and takes the source as the truth on refresh', async () => {
    const list = new RevocationList();
    list.add(['t1']);
    assert.equal(list.isRevoked('t1'), true);
    assert.equal(list.isRevoked('t2'), false);
    const source = sourceOf(['t2']);
    await list.refresh(source);
    assert.equal(list.isRevoked('t2'), true, 'learned from the source without a push');
    assert.equal(list.isRevoked('t1'), false, 'the source no longer lists t1 (its token expired)');
  });

  it('keeps an id pushed while a refresh was in flight', async () => {
    const list = new RevocationList();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: RevocationSource = { revokedIds: async () => (await gate, ['old']) };
    const refreshing = list.refresh(slow);
    list.add(['pushed-meanwhile']);
    release();
    await refreshing;
    assert.equal(list.isRevoked('pushed-meanwhile'), true);
    assert.equal(list.isRevoked('old'), true);
  });

  it('follows a source on an interval and keeps the last known set when it fails', async () => {
    const list = new RevocationList();
    const source = sourceOf(['a']);
    await list.follow(source, silentLogger(), 20);
    try {
      assert.equal(list.isRevoked('a'), true);
      source.ids = ['a', 'b'];
      await eventually('a later refresh brings b', () => list.isRevoked('b'));
      source.fail = true;
      const calls = source.calls;
      await eventually('two failed refreshes', () => source.calls >= calls + 2);
      assert.equal(list.isRevoked('a') && list.isRevoked('b'), true, 'a failing source does not un-revoke anything');
    } finally {
      list.stop();
    }
  });
});
