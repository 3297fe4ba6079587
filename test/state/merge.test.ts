import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Cell, mergeRows, type RowState } from '../../src/state/crdt/merge.ts';
import { memoryStore, rows } from './helpers.ts';

const value = fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 }), fc.constantFrom('a', 'b', ''), fc.uint8Array({ maxLength: 2 }));
const site = fc.constantFrom('s1', 's2', 's3');
const cell: fc.Arbitrary<Cell> = fc.record({ ver: fc.integer({ min: 1, max: 3 }), val: value, site, dbv: fc.integer({ min: 1, max: 3 }), seq: fc.integer({ min: 0, max: 2 }) });
const origin = fc.option(fc.record({ site, dbv: fc.integer({ min: 1, max: 3 }), seq: fc.integer({ min: 0, max: 2 }) }), { nil: null });
const row: fc.Arbitrary<RowState> = fc.record({
  cl: fc.integer({ min: 1, max: 4 }),
  clOrigin: origin,
  cells: fc.dictionary(fc.constantFrom('c1', 'c2', 'c3'), cell).map((d) => new Map(Object.entries(d))),
});

/** Row states compare by content; map insertion order is irrelevant. */
function canon(r: RowState): unknown {
  const cells = [...r.cells].sort(([a], [b]) => (a < b ? -1 : 1)).map(([cid, c]) => [cid, { ...c }]);
  return { cl: r.cl, clOrigin: r.clOrigin === null ? null : { ...r.clOrigin }, cells };
}

test('merge is commutative', () => {
  fc.assert(fc.property(row, row, (a, b) => assert.deepEqual(canon(mergeRows(a, b)), canon(mergeRows(b, a)))), { numRuns: 2000 });
});

test('merge is associative', () => {
  fc.assert(
    fc.property(row, row, row, (a, b, c) => assert.deepEqual(canon(mergeRows(mergeRows(a, b), c)), canon(mergeRows(a, mergeRows(b, c))))),
    { numRuns: 2000 },
  );
});

test('merge is idempotent', () => {
  fc.assert(fc.property(row, row, (a, b) => {
    assert.deepEqual(canon(mergeRows(a, a)), canon(a));
    const ab = mergeRows(a, b);
    assert.deepEqual(canon(mergeRows(ab, b)), canon(ab));
  }), { numRuns: 2000 });
});

test('the store converges whatever the order and repetition of changesets (same rule as mergeRows)', () => {
  const op = fc.record({
    writer: fc.integer({ min: 0, max: 2 }),
    kind: fc.constantFrom('upsert', 'update', 'delete'),
    id: fc.constantFrom('h1', 'h2'),
    cpus: fc.integer({ min: 0, max: 3 }),
    state: fc.constantFrom('up', 'down'),
  });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), (ops, order) => {
      const writers = [memoryStore(), memoryStore(), memoryStore()];
      const changesets = [];
      for (const o of ops) {
        const w = writers[o.writer]!;
        // Writers see some of each other's changes first, so their writes are partly concurrent.
        for (const cs of changesets.slice(0, changesets.length >> 1)) w.apply(cs);
        const sql =
          o.kind === 'upsert'
            ? `INSERT INTO hosts (id, cpus, state) VALUES ('${o.id}', ${o.cpus}, '${o.state}') ON CONFLICT (id) DO UPDATE SET cpus = excluded.cpus`
            : o.kind === 'update'
              ? `UPDATE hosts SET state = '${o.state}' WHERE id = '${o.id}'`
              : `DELETE FROM hosts WHERE id = '${o.id}'`;
        const cs = w.transaction([{ sql }]).changeset;
        if (cs !== null) changesets.push(cs);
      }
      if (changesets.length === 0) return;
      const a = memoryStore();
      const b = memoryStore();
      for (const cs of changesets) a.apply(cs);
      for (const i of order) b.apply(changesets[i % changesets.length]!);
      for (const cs of changesets.slice().reverse()) b.apply(cs);
      const q = 'SELECT * FROM hosts ORDER BY id';
      assert.deepEqual(rows(b, q), rows(a, q));
      for (const s of [a, b]) s.close();
      for (const w of writers) w.close();
    }),
    { numRuns: 150 },
  );
});
