import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryStore, rows } from './helpers.ts';

test('a local write becomes the next version with one change per column', () => {
  const a = memoryStore();
  const r = a.transaction([{ sql: "INSERT INTO machines (id, app, state) VALUES ('m1', 'web', 'started')" }]);
  assert.equal(r.version, 1);
  assert.equal(r.results[0]!.rowsAffected, 1);
  // One change per column that is not the key, however many columns the platform schema has.
  const columns = (rows(a, "SELECT COUNT(*) AS n FROM pragma_table_info('machines')")[0] as { n: number }).n;
  assert.equal(r.changeset!.changes.filter((c) => c[2] !== '').length, columns - 1);
  const noop = a.transaction([{ sql: "UPDATE machines SET state = 'started' WHERE id = 'm1'" }]);
  assert.equal(noop.version, null, 'an update that changes nothing makes no version');
});

test('changesets replicate rows, updates and deletes between stores in any order', () => {
  const a = memoryStore();
  const b = memoryStore();
  const v1 = a.transaction([{ sql: "INSERT INTO machines (id, app) VALUES ('m1', 'web')" }]).changeset!;
  const v2 = a.transaction([{ sql: "UPDATE machines SET state = 'stopped' WHERE id = 'm1'" }]).changeset!;
  const v3 = a.transaction([{ sql: "DELETE FROM machines WHERE id = 'm1'" }]).changeset!;
  assert.equal(b.apply(v3), 'applied');
  assert.equal(b.apply(v1), 'applied');
  assert.equal(b.apply(v2), 'applied');
  assert.equal(b.apply(v2), 'duplicate');
  assert.deepEqual(rows(b, 'SELECT * FROM machines'), [], 'the delete wins over older writes, whatever the arrival order');
  assert.deepEqual(b.summary(), [[a.siteId, [[1, 3]]]]);
});

test('concurrent writes to one column pick the same winner everywhere', () => {
  const a = memoryStore();
  const b = memoryStore();
  const base = a.transaction([{ sql: "INSERT INTO hosts (id, state) VALUES ('h1', 'up')" }]).changeset!;
  b.apply(base);
  const fromA = a.transaction([{ sql: "UPDATE hosts SET state = 'draining' WHERE id = 'h1'" }]).changeset!;
  const fromB = b.transaction([{ sql: "UPDATE hosts SET state = 'down', cpus = 8 WHERE id = 'h1'" }]).changeset!;
  a.apply(fromB);
  b.apply(fromA);
  assert.deepEqual(rows(a, 'SELECT * FROM hosts'), rows(b, 'SELECT * FROM hosts'));
  assert.equal((rows(a, 'SELECT cpus FROM hosts')[0] as { cpus: number }).cpus, 8, 'columns merge independently');
});

test('a re-insert after a delete starts a new life with fresh columns', () => {
  const a = memoryStore();
  const b = memoryStore();
  b.apply(a.transaction([{ sql: "INSERT INTO hosts (id, cpus, region) VALUES ('h1', 4, 'ams')" }]).changeset!);
  b.apply(a.transaction([{ sql: "DELETE FROM hosts WHERE id = 'h1'" }]).changeset!);
  b.apply(a.transaction([{ sql: "INSERT INTO hosts (id, region) VALUES ('h1', 'fra')" }]).changeset!);
  assert.deepEqual(rows(b, 'SELECT id, cpus, region FROM hosts'), [{ id: 'h1', cpus: 0, region: 'fra' }]);
});

test('hostile or malformed changesets are refused whole', () => {
  const a = memoryStore();
  const b = memoryStore();
  const good = a.transaction([{ sql: "INSERT INTO hosts (id) VALUES ('h1')" }]).changeset!;
  const bad = [
    { ...good, changes: [...good.changes, ['nope', '["x"]', '', null, 0, 1, 1, 9]] },
    { ...good, changes: [['hosts', '["h2"]', 'cpus', null, 1, 2, 1, 0]] },
    { ...good, changes: [['hosts', '[ "h2"]', 'cpus', 1, 1, 1, 1, 0]] },
    { ...good, changes: [['hosts', '["h2"]', 'cpus', { evil: true }, 1, 1, 1, 0]] },
    { ...good, changes: [['hosts', '["h2"]', 'cpus', 1, 1, 1, 7, 0]] },
  ];
  for (const cs of bad) assert.equal(b.apply(cs as never), 'invalid');
  assert.equal(b.apply({ ...good, schema: 99 }), 'refused_schema');
  assert.deepEqual(rows(b, 'SELECT * FROM hosts'), []);
  assert.deepEqual(b.summary(), [], 'nothing refused is marked as held, so sync can fetch it later');
});

test('transactions refuse DDL and bookkeeping tables, and roll back on error', () => {
  const a = memoryStore();
  assert.throws(() => a.transaction([{ sql: 'DROP TABLE hosts' }]), /only INSERT/);
  assert.throws(() => a.transaction([{ sql: 'DELETE FROM __aloft_cells' }]), /bookkeeping/);
  assert.throws(() => a.transaction([{ sql: "INSERT INTO hosts (id) VALUES ('h1')" }, { sql: "INSERT INTO hosts (id) VALUES ('h1')" }]));
  assert.deepEqual(rows(a, 'SELECT * FROM hosts'), []);
  assert.equal(a.head(), 0);
});
