import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/lib/log.ts';
import { Store } from '../../src/state/crdt/store.ts';
import { defaultLimits } from '../../src/state/limits.ts';
import { defaultSchemaPath, parseSchema } from '../../src/state/schema/schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'aloft-state-schema-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// The platform schema as it is now (version n), and a later version adding a column and a table;
// derived from the file so that additive changes to it do not break this test.
const current = readFileSync(defaultSchemaPath, 'utf8');
const n = parseSchema(current).version;
const nextVersion = (text: string): string => text.replace(`aloft-schema-version: ${n}`, `aloft-schema-version: ${n + 1}`);
const later = nextVersion(current).replace(/\n\);\n\nCREATE INDEX machines_app/, ",\n  image TEXT NOT NULL DEFAULT ''\n);\n\nCREATE INDEX machines_app") + '\nCREATE TABLE volumes (id TEXT NOT NULL PRIMARY KEY, size_gb INTEGER NOT NULL DEFAULT 1);\n';
const open = (path: string, text: string): Store =>
  new Store(new Database(path), { schema: parseSchema(text), newSiteId: () => 'aa'.repeat(8), limits: defaultLimits, log: silentLogger(), backupPath: path });

test('a declared migration adds tables and columns, keeps a copy first, and keeps data', () => {
  const path = join(dir, 'a.db');
  const a = open(path, current);
  a.transaction([{ sql: "INSERT INTO machines (id, app) VALUES ('m1', 'web')" }]);
  a.close();
  const b = open(path, later);
  assert.ok(existsSync(`${path}.schema-v${n}.bak`), 'a copy of the database is kept before migrating');
  assert.deepEqual(b.prepareQuery('SELECT id, app, image FROM machines').all(), [{ id: 'm1', app: 'web', image: '' }]);
  b.transaction([{ sql: "INSERT INTO volumes (id) VALUES ('v1')" }]);
  b.close();
  assert.throws(() => open(path, current), new RegExp(`schema v${n + 1} but this node's schema file is v${n}`), 'an older node refuses a newer database');
});

test('destructive or unsafe schemas are refused before anything is written', () => {
  assert.throws(() => parseSchema('-- aloft-schema-version: 1\nCREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL);'), /NOT NULL without a DEFAULT/);
  assert.throws(() => parseSchema('-- aloft-schema-version: 1\nCREATE TABLE t (a TEXT);'), /no PRIMARY KEY/);
  assert.throws(() => parseSchema('-- aloft-schema-version: 1\nCREATE TABLE t (id TEXT PRIMARY KEY, u TEXT UNIQUE);'), /UNIQUE/);
  const path = join(dir, 'b.db');
  open(path, current).close();
  const dropped = nextVersion(current).replace("  cordoned INTEGER NOT NULL DEFAULT 0,\n", '');
  assert.throws(() => open(path, dropped), /drops column hosts.cordoned/);
  const sameVersion = current + '\nCREATE TABLE extra (id TEXT PRIMARY KEY);\n';
  assert.throws(() => open(path, sameVersion), new RegExp(`version is still v${n}`));
});

test('changes written under a newer schema are refused by an older node and fetched after its upgrade', () => {
  const newer = open(join(dir, 'c.db'), later);
  const older = open(join(dir, 'd.db'), current);
  const cs = newer.transaction([{ sql: "INSERT INTO machines (id, image) VALUES ('m1', 'nginx')" }]).changeset!;
  assert.equal(older.apply(cs), 'refused_schema');
  assert.deepEqual(older.prepareQuery('SELECT * FROM machines').all(), []);
  older.close();
  const upgraded = open(join(dir, 'd.db'), later);
  assert.equal(upgraded.apply(cs), 'applied');
  assert.deepEqual(upgraded.prepareQuery('SELECT id, image FROM machines').all(), [{ id: 'm1', image: 'nginx' }]);
});
