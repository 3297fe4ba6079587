import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom, randomInt } from '../../src/state/random.ts';
import type { Runtime } from '../../src/state/runtime.ts';
import { defaultLimits } from '../../src/state/limits.ts';
import { blobReplacer, Subscriptions, type Subscription } from '../../src/state/subscriptions.ts';
import { memoryStore } from './helpers.ts';

/** A runtime whose scheduled callbacks run only when the test flushes them. */
function manualRuntime(): { rt: Runtime; flush(): void } {
  let due: Array<() => void> = [];
  const rt: Runtime = {
    now: () => 0,
    random: seededRandom(1),
    schedule: (_afterMs, fn) => {
      due.push(fn);
      return () => {};
    },
    send: () => {},
  };
  return { rt, flush: () => { const run = due; due = []; for (const fn of run) fn(); } };
}

function held(sub: Subscription): string[] {
  return [...(sub as unknown as { current: Map<string, { json: string }> }).current.values()].map((r) => r.json).sort();
}

test('a row-wise subscription refreshed from changed keys matches its query, on the writer and on a merging peer', () => {
  const writer = memoryStore();
  const peer = memoryStore();
  const random = seededRandom(42);
  const sql = 'SELECT id, state FROM machines WHERE app = ?';
  const subs = [writer, peer].map((store) => {
    const { rt, flush } = manualRuntime();
    const sub = new Subscriptions(store, rt, defaultLimits).open(sql, ['web']);
    assert.notEqual(sub.rowWiseTable, null);
    return { store, sub, flush };
  });
  const truth = (i: number): string[] => (subs[i]!.store.prepareQuery(sql).raw(true).all('web') as unknown[][]).map((r) => JSON.stringify(r, blobReplacer)).sort();
  for (let step = 0; step < 300; step++) {
    const id = `m${randomInt(random, 12)}`;
    const app = randomInt(random, 3) === 0 ? 'api' : 'web';
    const statements = [
      { sql: 'INSERT INTO machines (id, app, state) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET app = excluded.app, state = excluded.state', params: [id, app, `s${step}`] },
      { sql: 'DELETE FROM machines WHERE id = ?', params: [id] },
      { sql: 'UPDATE machines SET id = ? WHERE id = ?', params: [`m${randomInt(random, 12)}x`, id] },
    ];
    try {
      const result = writer.transaction([statements[randomInt(random, 3)]!]);
      if (result.changeset !== null) peer.apply(result.changeset);
    } catch {
      continue; // a renamed key that already exists: nothing was written
    }
    for (const [i, s] of subs.entries()) {
      s.flush();
      assert.deepEqual(held(s.sub), truth(i), `step ${step}, node ${i}`);
    }
  }
});

test('joins, aggregates, limits, aliased keys and queries that cannot be wrapped are re-run whole', () => {
  const store = memoryStore();
  const subs = new Subscriptions(store, manualRuntime().rt, defaultLimits);
  for (const sql of ['SELECT count(*) FROM machines', 'SELECT id FROM machines LIMIT 5', 'SELECT id FROM machines WHERE app IN (SELECT id FROM hosts)', 'SELECT state AS id FROM machines', 'SELECT id FROM machines;']) {
    assert.equal(subs.open(sql).rowWiseTable, null, sql);
  }
});
