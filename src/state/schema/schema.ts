import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { StateSchemaError } from '../errors.ts';

/** A replicated table as the CRDT layer sees it. */
export interface TableSchema {
  name: string;
  /** Primary-key columns, in key order. */
  pk: readonly string[];
  /** Every other column; each is replicated as its own last-writer-wins cell. */
  columns: readonly string[];
  /** `CREATE TABLE` text, used to create it on a node that lacks it. */
  sql: string;
  /** Column definitions for `ALTER TABLE ADD COLUMN`, by name. */
  columnDefs: ReadonlyMap<string, string>;
}

export interface Schema {
  /** Declared on the file's first line; changes carry it so a node can refuse newer ones. */
  version: number;
  tables: ReadonlyMap<string, TableSchema>;
  /** `CREATE INDEX` statements by index name. */
  indexes: ReadonlyMap<string, string>;
}

const versionLine = /^--\s*aloft-schema-version:\s*(\d+)\s*$/m;
/** Names the CRDT layer keeps for itself. */
export const reservedPrefix = '__aloft';

export const defaultSchemaPath = fileURLToPath(new URL('./platform.sql', import.meta.url));

export function loadSchemaFile(path: string = defaultSchemaPath): Schema {
  return parseSchema(readFileSync(path, 'utf8'));
}

/**
 * Reads a schema by running it in a scratch in-memory database and introspecting the result,
 * so SQLite itself is the parser. Refuses anything that replication cannot carry safely.
 */
export function parseSchema(text: string): Schema {
  const match = versionLine.exec(text);
  if (match === null) throw new StateSchemaError('schema has no "-- aloft-schema-version: N" line', { hint: 'add it as the first line' });
  const version = Number(match[1]);
  const scratch = new Database(':memory:');
  try {
    try {
      scratch.exec(text);
    } catch (err) {
      throw new StateSchemaError(`schema does not parse: ${(err as Error).message}`, { cause: err });
    }
    return { version, ...introspect(scratch) };
  } finally {
    scratch.close();
  }
}

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

/** Reads the replicated tables of a database (all user tables not starting with the reserved prefix). */
export function introspect(db: Database.Database): Omit<Schema, 'version'> {
  const tables = new Map<string, TableSchema>();
  const indexes = new Map<string, string>();
  const objects = db
    .prepare(`SELECT type, name, tbl_name, sql FROM main.sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '${reservedPrefix}%' ORDER BY name`)
    .all() as Array<{ type: string; name: string; tbl_name: string; sql: string | null }>;
  for (const o of objects) {
    if (o.type === 'table') tables.set(o.name, readTable(db, o.name, o.sql ?? ''));
    else if (o.type === 'index' && o.sql !== null) indexes.set(o.name, o.sql);
    else if (o.type !== 'index') throw new StateSchemaError(`schema object ${o.name} is a ${o.type}; only tables and indexes are allowed`);
  }
  return { tables, indexes };
}

function readTable(db: Database.Database, name: string, sql: string): TableSchema {
  const infos = db.prepare(`PRAGMA main.table_info(${quoteIdent(name)})`).all() as ColumnInfo[];
  const pk = infos.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  if (pk.length === 0) throw new StateSchemaError(`table ${name} has no PRIMARY KEY`, { hint: 'replicated tables need a primary key' });
  for (const c of pk) {
    if (!/^(TEXT|INTEGER)$/i.test(c.type)) throw new StateSchemaError(`primary key column ${name}.${c.name} must be TEXT or INTEGER, not '${c.type}'`);
  }
  const unique = (db.prepare(`PRAGMA main.index_list(${quoteIdent(name)})`).all() as Array<{ unique: number; origin: string }>).filter(
    (i) => i.unique === 1 && i.origin !== 'pk',
  );
  if (unique.length > 0) throw new StateSchemaError(`table ${name} has a UNIQUE constraint; merged rows could violate it`);
  const columns = infos.filter((c) => c.pk === 0);
  const columnDefs = new Map<string, string>();
  for (const c of columns) {
    if (c.name === '') throw new StateSchemaError(`table ${name} has an unnamed column`);
    if (c.notnull === 1 && c.dflt_value === null) {
      throw new StateSchemaError(`column ${name}.${c.name} is NOT NULL without a DEFAULT`, { hint: 'give it a DEFAULT: rows can arrive column by column' });
    }
    columnDefs.set(c.name, `${quoteIdent(c.name)} ${c.type}${c.notnull === 1 ? ' NOT NULL' : ''}${c.dflt_value === null ? '' : ` DEFAULT ${c.dflt_value}`}`);
  }
  return { name, pk: pk.map((c) => c.name), columns: columns.map((c) => c.name), sql, columnDefs };
}

/** One additive step of a migration, as SQL. */
export interface MigrationPlan {
  statements: string[];
}

/**
 * What it takes to bring `current` to `desired`: only additions are allowed. Anything else
 * (a dropped table or column, a changed key) is refused before a byte is written.
 */
export function planMigration(current: Omit<Schema, 'version'>, desired: Schema): MigrationPlan {
  const statements: string[] = [];
  for (const [name, table] of current.tables) {
    const next = desired.tables.get(name);
    if (next === undefined) throw new StateSchemaError(`schema v${desired.version} drops table ${name}; destructive changes are refused`);
    if (next.pk.join(',') !== table.pk.join(',')) throw new StateSchemaError(`schema v${desired.version} changes the primary key of ${name}; refused`);
    for (const col of table.columns) {
      if (!next.columns.includes(col)) throw new StateSchemaError(`schema v${desired.version} drops column ${name}.${col}; destructive changes are refused`);
    }
    for (const col of next.columns) {
      if (!table.columns.includes(col)) statements.push(`ALTER TABLE ${quoteIdent(name)} ADD COLUMN ${next.columnDefs.get(col)!}`);
    }
  }
  for (const [name, table] of desired.tables) if (!current.tables.has(name)) statements.push(table.sql);
  for (const [name, sql] of desired.indexes) if (!current.indexes.has(name)) statements.push(sql);
  return { statements };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
