import Database from 'better-sqlite3';
import type { Logger } from '../../lib/log.ts';
import { StateQueryError, StateSchemaError } from '../errors.ts';
import type { StateLimits } from '../limits.ts';
import { introspect, planMigration, quoteIdent, reservedPrefix, type Schema, type TableSchema } from '../schema/schema.ts';
import { type Change, type Changeset, rowMarker } from './changeset.ts';
import { type Cell, compareCells, compareOrigins, isAlive, type Origin } from './merge.ts';
import { type Range, RangeSet } from './ranges.ts';
import { isValue, toSqlValue, type Value } from './value.ts';
import { encode } from 'msgpackr';

/** One SQL statement with positional or named parameters. */
export interface Statement {
  sql: string;
  params?: unknown[] | Record<string, unknown>;
}

export interface StatementResult {
  rowsAffected: number;
}

export interface CommitResult {
  /** The db version this transaction created, or null when it changed nothing. */
  version: number | null;
  results: StatementResult[];
  changeset: Changeset | null;
}

/** What happened to a changeset offered by a peer. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'refused_schema' | 'invalid';

/** The rows one commit changed: primary keys (JSON array text) by table, for subscriptions. */
export type TouchedRows = Map<string, Set<string>>;

function touch(touched: TouchedRows, tbl: string, pk: string): void {
  let pks = touched.get(tbl);
  if (pks === undefined) {
    pks = new Set();
    touched.set(tbl, pks);
  }
  pks.add(pk);
}

/** Prepared per-row UPDATE statements kept, one per distinct set of written columns. */
const rowUpdateStatementsMax = 256;

/** Column values a merge writes to one user row. */
interface RowWrite {
  table: TableSchema;
  pk: string;
  values: Map<string, Value>;
}

interface RowMeta {
  cl: number;
  site: string | null;
  dbv: number | null;
  seq: number | null;
}

/**
 * The CRDT-replicated SQLite database of one node. User tables hold plain rows that anyone can
 * query; bookkeeping tables record, per row, its causal length and, per column, the winning
 * cell with its version and origin. Local writes are captured by temporary triggers, numbered
 * with this site's next db version, and turned into a changeset; remote changesets are merged
 * with the rule of `merge.ts`. All methods are synchronous and each call is one SQLite
 * transaction, so a crash leaves either all of a version or none of it.
 */
export class Store {
  readonly db: Database.Database;
  readonly siteId: string;
  readonly schema: Schema;
  private readonly limits: StateLimits;
  private readonly log: Logger;
  private readonly versions = new Map<string, RangeSet>();
  private readonly stmts: ReturnType<Store['prepareBookkeeping']>;
  private readonly cellSelect = new Map<string, Database.Statement>();
  private readonly cellUpdate = new Map<string, Database.Statement>();
  private readonly refusedSchemaLogged = new Set<string>();
  private readonly changeListeners = new Set<(rows: ReadonlyMap<string, ReadonlySet<string>>) => void>();
  /**
   * False while a peer's changeset is merged: the capture triggers then skip their work, which
   * would only be thrown away (a merged insert of a 12-column row otherwise ran ~180 trigger
   * statements, the largest cost of applying it).
   */
  private capturing = true;

  constructor(db: Database.Database, options: { schema: Schema; newSiteId: () => string; limits: StateLimits; log: Logger; backupPath?: string }) {
    this.db = db;
    this.schema = options.schema;
    this.limits = options.limits;
    this.log = options.log;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    createBookkeeping(db);
    db.function(`${reservedPrefix}_capturing`, { deterministic: false }, () => (this.capturing ? 1 : 0));
    this.siteId = this.meta('site_id') ?? this.setMeta('site_id', options.newSiteId());
    this.migrate(options.backupPath);
    this.stmts = this.prepareBookkeeping();
    for (const table of this.schema.tables.values()) this.createTriggers(table);
    for (const r of db.prepare(`SELECT site, start, "end" FROM ${reservedPrefix}_versions ORDER BY site, start`).all() as Array<{ site: string; start: number; end: number }>) {
      this.rangesOf(r.site).add(r.start, r.end);
    }
  }

  /** This node's own latest db version. */
  head(): number {
    return this.rangesOf(this.siteId).max();
  }

  /** Versions held per site. */
  summary(): Array<[site: string, ranges: Range[]]> {
    return [...this.versions].map(([site, set]) => [site, set.list().slice(0, this.limits.syncRangesPerSiteMax)]);
  }

  holds(site: string, version: number): boolean {
    return this.versions.get(site)?.has(version) ?? false;
  }

  /** Versions of `site` held here, live view. */
  rangesOf(site: string): RangeSet {
    let set = this.versions.get(site);
    if (set === undefined) {
      set = new RangeSet();
      this.versions.set(site, set);
    }
    return set;
  }

  /** Called after each commit that changed user rows, with the rows it changed. */
  onChange(listener: (rows: ReadonlyMap<string, ReadonlySet<string>>) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  meta(key: string): string | undefined {
    const row = this.db.prepare(`SELECT value FROM ${reservedPrefix}_meta WHERE key = ?`).get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): string {
    this.db.prepare(`INSERT INTO ${reservedPrefix}_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(key, value);
    return value;
  }

  /** Runs write statements atomically and records them as this site's next version. */
  transaction(statements: readonly Statement[]): CommitResult {
    if (statements.length === 0) throw new StateQueryError('a transaction needs at least one statement');
    if (statements.length > this.limits.transactionStatementsMax) {
      throw new StateQueryError(`a transaction may hold at most ${this.limits.transactionStatementsMax} statements`);
    }
    const prepared = statements.map((s) => this.prepareWrite(s));
    const touched: TouchedRows = new Map();
    const result = this.db.transaction((): CommitResult => {
      const results = prepared.map(({ stmt, params }) => ({ rowsAffected: runStatement(stmt, params).changes }));
      // Keys are re-serialised by JSON.stringify so every node spells a key the same way.
      const pending = (this.stmts.pendingAll.all() as Array<{ tbl: string; pk: string; cid: string | null }>).map((p) => ({ ...p, pk: JSON.stringify(JSON.parse(p.pk)) }));
      this.stmts.pendingClear.run();
      if (pending.length === 0) return { version: null, results, changeset: null };
      const dbv = this.head() + 1;
      this.recordLocal(pending, dbv, touched);
      this.markHeld(this.siteId, dbv, dbv);
      const changeset = this.changesetFor(this.siteId, dbv, dbv);
      if (changeset.changes.length > this.limits.transactionCellsMax) {
        throw new StateQueryError(`transaction changes ${changeset.changes.length} cells; at most ${this.limits.transactionCellsMax} are allowed`);
      }
      const bytes = encode(changeset).length;
      if (bytes > this.limits.transactionBytesMax) {
        throw new StateQueryError(`transaction is ${bytes} bytes once encoded; at most ${this.limits.transactionBytesMax} are allowed`);
      }
      return { version: dbv, results, changeset };
    })();
    if (result.version !== null) this.notify(touched);
    return result;
  }

  /** Runs a read-only query. */
  prepareQuery(sql: string): Database.Statement {
    let stmt: Database.Statement;
    try {
      stmt = this.db.prepare(sql);
    } catch (err) {
      throw new StateQueryError(`query does not parse: ${(err as Error).message}`, { cause: err });
    }
    if (!stmt.reader) throw new StateQueryError('queries must be read-only; use a transaction to write');
    return stmt;
  }

  /**
   * Merges a peer's changeset. Validates every change first and refuses the whole changeset if
   * any is malformed, or if it was written under a newer schema than ours.
   */
  apply(cs: Changeset): ApplyOutcome {
    const held = this.versions.get(cs.site);
    if (held !== undefined && held.covers(cs.from, cs.to)) return 'duplicate';
    if (cs.schema > this.schema.version) {
      const key = `${cs.site}:${cs.schema}`;
      if (!this.refusedSchemaLogged.has(key)) {
        this.refusedSchemaLogged.add(key);
        this.log.error(
          { site: cs.site, changeSchema: cs.schema, localSchema: this.schema.version },
          `refusing changes from site ${cs.site} written under schema v${cs.schema}; this node has schema v${this.schema.version}: upgrade this node to receive them`,
        );
      }
      return 'refused_schema';
    }
    const problem = this.validate(cs);
    if (problem !== null) {
      this.log.warn({ site: cs.site, from: cs.from, to: cs.to, problem }, 'refused an invalid changeset');
      return 'invalid';
    }
    const touched: TouchedRows = new Map();
    const rowWrites = new Map<string, RowWrite>();
    this.capturing = false;
    try {
      this.db.transaction(() => {
        for (const change of cs.changes) this.applyChange(change, cs.site, touched, rowWrites);
        for (const w of rowWrites.values()) this.writeColumns(w);
        this.markHeld(cs.site, cs.from, cs.to);
      })();
    } finally {
      this.capturing = true;
    }
    if (touched.size > 0) this.notify(touched);
    return 'applied';
  }

  /**
   * Runs `fn` inside one SQLite transaction, so the `apply` calls it makes share one commit:
   * under load a node merges many small changesets per event-loop turn, and a commit each was
   * its largest cost. `fn` must catch its own errors (a throw rolls back every apply in it).
   */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /** Every surviving change `site` made in versions `from..to`, complete for that range. */
  changesetFor(site: string, from: number, to: number): Changeset {
    const rows = this.stmts.changesFor.raw().all(site, from, to, site, from, to) as Change[];
    return { site, from, to, schema: this.schema.version, changes: rows };
  }

  close(): void {
    this.db.close();
  }

  private notify(rows: ReadonlyMap<string, ReadonlySet<string>>): void {
    for (const listener of this.changeListeners) listener(rows);
  }

  private markHeld(site: string, from: number, to: number): void {
    const set = this.rangesOf(site);
    set.add(from, to);
    this.stmts.versionsClear.run(site);
    for (const [s, e] of set.list()) this.stmts.versionsInsert.run(site, s, e);
  }

  private prepareWrite(s: Statement): { stmt: Database.Statement; params: Statement['params'] } {
    const head = /^\s*(\w+)/.exec(s.sql)?.[1]?.toUpperCase();
    if (head === undefined || !['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'WITH'].includes(head)) {
      throw new StateQueryError(`only INSERT, UPDATE, DELETE and REPLACE statements may be in a transaction: ${s.sql.slice(0, 80)}`);
    }
    if (s.sql.toLowerCase().includes(reservedPrefix)) throw new StateQueryError(`statements may not touch ${reservedPrefix} bookkeeping tables`);
    try {
      return { stmt: this.db.prepare(s.sql), params: s.params };
    } catch (err) {
      throw new StateQueryError(`statement does not parse: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Turns captured trigger events into bookkeeping for version `dbv`. */
  private recordLocal(pending: Array<{ tbl: string; pk: string; cid: string | null }>, dbv: number, touched: TouchedRows): void {
    let seq = 0;
    const origin = (): Origin => ({ site: this.siteId, dbv, seq: seq++ });
    const cellVersions = new Map<string, { tbl: string; pk: string; cid: string; ver: number }>();
    for (const p of pending) {
      touch(touched, p.tbl, p.pk);
      const row = this.row(p.tbl, p.pk);
      if (p.cid === null) {
        if (row !== undefined && isAlive(row.cl)) this.setRowLife(p.tbl, p.pk, row.cl + 1, origin());
      } else if (p.cid === rowMarker) {
        if (row === undefined || !isAlive(row.cl)) this.setRowLife(p.tbl, p.pk, (row?.cl ?? 0) + 1, origin());
      } else {
        const key = `${p.tbl}\u0000${p.pk}\u0000${p.cid}`;
        if (!cellVersions.has(key)) {
          const cell = this.stmts.cellGet.get(p.tbl, p.pk, p.cid) as { ver: number } | undefined;
          cellVersions.set(key, { tbl: p.tbl, pk: p.pk, cid: p.cid, ver: (cell?.ver ?? 0) + 1 });
        }
      }
    }
    for (const c of cellVersions.values()) {
      const row = this.row(c.tbl, c.pk);
      // A column written and then deleted in the same transaction leaves nothing to replicate.
      if (row === undefined || !isAlive(row.cl)) continue;
      const val = this.readColumn(c.tbl, c.pk, c.cid);
      const o = origin();
      this.stmts.cellPut.run(c.tbl, c.pk, c.cid, toSqlValue(val), c.ver, row.cl, o.site, o.dbv, o.seq);
    }
  }

  private row(tbl: string, pk: string): RowMeta | undefined {
    return this.stmts.rowGet.get(tbl, pk) as RowMeta | undefined;
  }

  /** Starts a new life of a row (insert after delete, or delete): older cells no longer count. */
  private setRowLife(tbl: string, pk: string, cl: number, origin: Origin | null): void {
    this.stmts.cellsClear.run(tbl, pk);
    this.stmts.rowPut.run(tbl, pk, cl, origin?.site ?? null, origin?.dbv ?? null, origin?.seq ?? null);
  }

  /** Winning column values are collected per row and written with one UPDATE (see `writeColumns`). */
  private applyChange(change: Change, site: string, touched: TouchedRows, rowWrites: Map<string, RowWrite>): void {
    const [tbl, pk, cid, val, ver, cl, dbv, seq] = change;
    const table = this.schema.tables.get(tbl)!;
    const row = this.row(tbl, pk);
    const localCl = row?.cl ?? 0;
    if (cl < localCl) return; // a write from a life of the row that has since ended
    const origin: Origin = { site, dbv, seq };
    if (cl > localCl) {
      this.setRowLife(tbl, pk, cl, cid === rowMarker ? origin : null);
      rowWrites.delete(`${tbl}\u0000${pk}`); // values of the life that just ended
      this.deleteUserRow(table, pk);
      if (isAlive(cl)) this.insertUserRow(table, pk);
      touch(touched, tbl, pk);
    } else if (cid === rowMarker && (row!.site === null || compareOrigins(origin, { site: row!.site, dbv: row!.dbv!, seq: row!.seq! }) > 0)) {
      this.stmts.rowPut.run(tbl, pk, cl, site, dbv, seq);
    }
    if (cid === rowMarker) return;
    const current = this.stmts.cellGet.get(tbl, pk, cid) as Cell | undefined;
    const incoming: Cell = { ver, val, site, dbv, seq };
    if (current !== undefined && compareCells(incoming, current) <= 0) return;
    this.stmts.cellPut.run(tbl, pk, cid, toSqlValue(val), ver, cl, site, dbv, seq);
    const key = `${tbl}\u0000${pk}`;
    let write = rowWrites.get(key);
    if (write === undefined) {
      write = { table, pk, values: new Map() };
      rowWrites.set(key, write);
    }
    write.values.set(cid, val);
    touch(touched, tbl, pk);
  }

  /** Returns a reason when the changeset must not be merged, or null when it is sound. */
  private validate(cs: Changeset): string | null {
    if (cs.changes.length > this.limits.transactionCellsMax * Math.max(1, cs.to - cs.from + 1)) return 'too many changes';
    for (const change of cs.changes) {
      const [tbl, pk, cid, val, ver, cl, dbv, seq] = change;
      const table = this.schema.tables.get(tbl);
      if (table === undefined) return `unknown table ${String(tbl).slice(0, 64)}`;
      if (cid !== rowMarker && !table.columns.includes(cid)) return `unknown column ${tbl}.${String(cid).slice(0, 64)}`;
      if (!isValue(val)) return 'bad value';
      if (!Number.isSafeInteger(ver) || ver < 0 || !Number.isSafeInteger(cl) || cl < 1) return 'bad version or causal length';
      if (cid !== rowMarker && (!isAlive(cl) || ver < 1)) return 'column change in a deleted life';
      if (!Number.isSafeInteger(dbv) || dbv < cs.from || dbv > cs.to || !Number.isSafeInteger(seq) || seq < 0) return 'change outside its version range';
      if (!validPk(pk, table)) return 'bad primary key';
    }
    return null;
  }

  private pkValues(pk: string): Value[] {
    return JSON.parse(pk) as Value[];
  }

  private deleteUserRow(table: TableSchema, pk: string): void {
    this.userStmt(`del:${table.name}`, () => `DELETE FROM ${quoteIdent(table.name)} WHERE ${pkWhere(table)}`).run(...this.pkValues(pk));
  }

  private insertUserRow(table: TableSchema, pk: string): void {
    this.userStmt(`ins:${table.name}`, () => `INSERT INTO ${quoteIdent(table.name)} (${table.pk.map(quoteIdent).join(', ')}) VALUES (${table.pk.map(() => '?').join(', ')})`).run(
      ...this.pkValues(pk),
    );
  }

  private readColumn(tbl: string, pk: string, cid: string): Value {
    const table = this.schema.tables.get(tbl)!;
    const stmt = this.cachedStmt(this.cellSelect, `${tbl}\u0000${cid}`, () => `SELECT ${quoteIdent(cid)} FROM ${quoteIdent(tbl)} WHERE ${pkWhere(table)}`);
    return stmt.pluck().get(...this.pkValues(pk)) as Value;
  }

  /** One UPDATE per row rather than per column: a merged insert otherwise updated the row and its indexes once per column. */
  private writeColumns(w: RowWrite): void {
    const cids = [...w.values.keys()];
    // Keyed by column set, which peers choose: bounded so they cannot grow it without limit.
    if (this.cellUpdate.size >= rowUpdateStatementsMax) this.cellUpdate.clear();
    const stmt = this.cachedStmt(this.cellUpdate, `${w.table.name}\u0000${cids.join('\u0000')}`, () => `UPDATE ${quoteIdent(w.table.name)} SET ${cids.map((c) => `${quoteIdent(c)} = ?`).join(', ')} WHERE ${pkWhere(w.table)}`);
    stmt.run(...[...w.values.values()].map(toSqlValue), ...this.pkValues(w.pk));
  }

  private readonly userStmts = new Map<string, Database.Statement>();
  private userStmt(key: string, sql: () => string): Database.Statement {
    return this.cachedStmt(this.userStmts, key, sql);
  }

  private cachedStmt(cache: Map<string, Database.Statement>, key: string, sql: () => string): Database.Statement {
    let stmt = cache.get(key);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql());
      cache.set(key, stmt);
    }
    return stmt;
  }

  /**
   * Brings the user tables to the schema file's version. Only additive steps run; a copy of
   * the database is written first; a database newer than the file is refused outright.
   */
  private migrate(backupPath: string | undefined): void {
    const stored = Number(this.meta('schema_version') ?? '0');
    if (stored > this.schema.version) {
      throw new StateSchemaError(`database has schema v${stored} but this node's schema file is v${this.schema.version}; refusing to open`, {
        hint: 'run the newer release of this node, or point it at a schema file of the same version',
      });
    }
    const plan = planMigration(introspect(this.db), this.schema);
    if (plan.statements.length === 0 && stored === this.schema.version) return;
    if (stored === this.schema.version) {
      throw new StateSchemaError(`the schema file changed but its version is still v${stored}`, { hint: 'bump the "-- aloft-schema-version" line' });
    }
    if (backupPath !== undefined && stored > 0) {
      this.db.prepare('VACUUM INTO ?').run(`${backupPath}.schema-v${stored}.bak`);
      this.log.info({ backup: `${backupPath}.schema-v${stored}.bak` }, 'database copied before migration');
    }
    this.db.transaction(() => {
      for (const sql of plan.statements) this.db.exec(sql);
      this.setMeta('schema_version', String(this.schema.version));
    })();
    this.log.info({ from: stored, to: this.schema.version, steps: plan.statements.length }, 'schema migrated');
  }

  private createTriggers(table: TableSchema): void {
    const t = quoteIdent(table.name);
    const name = (kind: string): string => quoteIdent(`${reservedPrefix}_${table.name}_${kind}`);
    const pkOf = (rec: 'NEW' | 'OLD'): string => `json_array(${table.pk.map((c) => `${rec}.${quoteIdent(c)}`).join(', ')})`;
    const lit = (s: string): string => `'${s.replaceAll("'", "''")}'`;
    const tn = lit(table.name);
    const pkChanged = `${pkOf('OLD')} IS NOT ${pkOf('NEW')}`;
    const pending = `temp.${reservedPrefix}_pending (tbl, pk, cid)`;
    const capturing = `${reservedPrefix}_capturing()`;
    const colsInsert = table.columns.map((c) => `INSERT INTO ${pending} VALUES (${tn}, ${pkOf('NEW')}, ${lit(c)});`).join('\n');
    const colsUpdate = table.columns
      .map((c) => `INSERT INTO ${pending} SELECT ${tn}, ${pkOf('NEW')}, ${lit(c)} WHERE OLD.${quoteIdent(c)} IS NOT NEW.${quoteIdent(c)} OR ${pkChanged};`)
      .join('\n');
    this.db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS ${name('ins')} AFTER INSERT ON main.${t} WHEN ${capturing} BEGIN
        INSERT INTO ${pending} VALUES (${tn}, ${pkOf('NEW')}, '');
        ${colsInsert}
      END;
      CREATE TEMP TRIGGER IF NOT EXISTS ${name('upd')} AFTER UPDATE ON main.${t} WHEN ${capturing} BEGIN
        INSERT INTO ${pending} SELECT ${tn}, ${pkOf('OLD')}, NULL WHERE ${pkChanged};
        INSERT INTO ${pending} SELECT ${tn}, ${pkOf('NEW')}, '' WHERE ${pkChanged};
        ${colsUpdate}
      END;
      CREATE TEMP TRIGGER IF NOT EXISTS ${name('del')} AFTER DELETE ON main.${t} WHEN ${capturing} BEGIN
        INSERT INTO ${pending} VALUES (${tn}, ${pkOf('OLD')}, NULL);
      END;`);
  }

  private prepareBookkeeping() {
    const p = reservedPrefix;
    const db = this.db;
    return {
      pendingAll: db.prepare(`SELECT tbl, pk, cid FROM temp.${p}_pending ORDER BY rowid`),
      pendingClear: db.prepare(`DELETE FROM temp.${p}_pending`),
      rowGet: db.prepare(`SELECT cl, site, dbv, seq FROM ${p}_rows WHERE tbl = ? AND pk = ?`),
      rowPut: db.prepare(
        `INSERT INTO ${p}_rows (tbl, pk, cl, site, dbv, seq) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET cl = excluded.cl, site = excluded.site, dbv = excluded.dbv, seq = excluded.seq`,
      ),
      cellGet: db.prepare(`SELECT ver, val, site, dbv, seq FROM ${p}_cells WHERE tbl = ? AND pk = ? AND cid = ?`),
      cellPut: db.prepare(
        `INSERT INTO ${p}_cells (tbl, pk, cid, val, ver, cl, site, dbv, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk, cid) DO UPDATE SET val = excluded.val, ver = excluded.ver, cl = excluded.cl, site = excluded.site, dbv = excluded.dbv, seq = excluded.seq`,
      ),
      cellsClear: db.prepare(`DELETE FROM ${p}_cells WHERE tbl = ? AND pk = ?`),
      changesFor: db.prepare(
        `SELECT tbl, pk, '' AS cid, NULL AS val, 0 AS ver, cl, dbv, seq FROM ${p}_rows WHERE site = ? AND dbv BETWEEN ? AND ?
         UNION ALL
         SELECT tbl, pk, cid, val, ver, cl, dbv, seq FROM ${p}_cells WHERE site = ? AND dbv BETWEEN ? AND ?
         ORDER BY dbv, seq`,
      ),
      versionsClear: db.prepare(`DELETE FROM ${p}_versions WHERE site = ?`),
      versionsInsert: db.prepare(`INSERT INTO ${p}_versions (site, start, "end") VALUES (?, ?, ?)`),
    };
  }
}

function createBookkeeping(db: Database.Database): void {
  const p = reservedPrefix;
  db.exec(`
    CREATE TABLE IF NOT EXISTS ${p}_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ${p}_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, cl INTEGER NOT NULL, site TEXT, dbv INTEGER, seq INTEGER, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS ${p}_rows_origin ON ${p}_rows (site, dbv);
    CREATE TABLE IF NOT EXISTS ${p}_cells (tbl TEXT NOT NULL, pk TEXT NOT NULL, cid TEXT NOT NULL, val, ver INTEGER NOT NULL, cl INTEGER NOT NULL, site TEXT NOT NULL, dbv INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (tbl, pk, cid)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS ${p}_cells_origin ON ${p}_cells (site, dbv);
    CREATE TABLE IF NOT EXISTS ${p}_versions (site TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, PRIMARY KEY (site, start)) WITHOUT ROWID;
    CREATE TEMP TABLE IF NOT EXISTS ${p}_pending (tbl TEXT NOT NULL, pk TEXT NOT NULL, cid TEXT);
  `);
}

function runStatement(stmt: Database.Statement, params: Statement['params']): Database.RunResult {
  if (params === undefined) return stmt.run();
  return Array.isArray(params) ? stmt.run(...params) : stmt.run(params);
}

function pkWhere(table: TableSchema): string {
  return table.pk.map((c) => `${quoteIdent(c)} = ?`).join(' AND ');
}

function validPk(pk: unknown, table: TableSchema): boolean {
  if (typeof pk !== 'string' || pk.length > 4096) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(pk);
  } catch {
    return false;
  }
  if (JSON.stringify(parsed) !== pk) return false; // one spelling per key, or a row could split in two
  return Array.isArray(parsed) && parsed.length === table.pk.length && parsed.every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v)));
}
