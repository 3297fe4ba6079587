import type { Statement as SqlStatement } from 'better-sqlite3';
import type { Store } from './crdt/store.ts';
import type { Value } from './crdt/value.ts';
import { StateSubscriptionError } from './errors.ts';
import type { StateLimits } from './limits.ts';
import type { Runtime } from './runtime.ts';

export type ChangeKind = 'insert' | 'update' | 'delete';

/** What a subscriber receives: the initial result once, then every change to it, in order. */
export type SubscriptionEvent =
  | { type: 'initial'; columns: string[]; rows: Array<{ rowid: number; values: Value[] }>; changeId: number }
  | { type: 'change'; kind: ChangeKind; rowid: number; values: Value[]; changeId: number };

interface LoggedChange {
  kind: ChangeKind;
  rowid: number;
  values: Value[];
  changeId: number;
}

/** Changed rows above which a subscription re-runs its whole query rather than looking each up. */
const incrementalRowsMax = 256;

/**
 * Query shapes whose result rows are not each a function of one base row (a change to one row
 * can move others), or that read the clock or randomness (rows can change with no commit).
 */
const notRowWise = /\b(join|group|having|limit|offset|distinct|union|intersect|except|window|over|with|count|sum|avg|min|max|total|group_concat|json_group_array|json_group_object|random|randomblob|now|current_time|current_date|current_timestamp)\b/i;

/**
 * A live query. Whenever a committed change (local or merged) touches a table the query reads,
 * the query is refreshed once per runtime turn and its result diffed against the previous one by
 * row key (the first table's primary key if the result carries it, else the whole row). A plain
 * filter over one table whose result carries the primary key is refreshed incrementally: only
 * the changed rows are looked up again, so the cost follows the change, not the result size;
 * other queries are re-run whole. Every
 * change gets the next change id; the last `subscriptionLogChangesMax` are kept so a client
 * that disconnected can resume from the last id it saw.
 */
export class Subscription {
  readonly id: string;
  readonly sql: string;
  readonly columns: string[];
  private readonly stmt: SqlStatement;
  readonly params: unknown[];
  private readonly keyIndexes: number[];
  private readonly limits: StateLimits;
  private current = new Map<string, { rowid: number; values: Value[]; json: string }>();
  private readonly log: LoggedChange[] = [];
  private changeId = 0;
  private nextRowid = 1;
  private readonly listeners = new Set<(c: LoggedChange) => void>();
  /** The query restricted to one primary key, when it can be refreshed row by row. */
  private readonly byKey: SqlStatement | null;
  /** The one table an incremental subscription reads. */
  readonly rowWiseTable: string | null;

  constructor(id: string, store: Store, sql: string, params: unknown[], limits: StateLimits) {
    this.id = id;
    this.sql = sql;
    this.params = params;
    this.limits = limits;
    this.stmt = store.prepareQuery(sql).raw(true);
    this.columns = this.stmt.columns().map((c) => c.name);
    const first = [...store.schema.tables.values()].find((t) => new RegExp(`\\b${t.name}\\b`, 'i').test(sql));
    const keyIndexes = first?.pk.map((c) => this.columns.indexOf(c)) ?? [];
    this.keyIndexes = keyIndexes.length > 0 && keyIndexes.every((i) => i >= 0) ? keyIndexes : [];
    const tables = Subscription.tablesOf(store, sql);
    // Row-wise only when the key columns really are the table's primary key columns (not aliases
    // of something else) and their names are unambiguous in the outer query.
    const columns = this.stmt.columns();
    const rowWise =
      first !== undefined &&
      tables.size === 1 &&
      this.keyIndexes.length > 0 &&
      !notRowWise.test(sql) &&
      (sql.match(/\bselect\b/gi) ?? []).length === 1 &&
      this.keyIndexes.every((i, k) => columns[i]!.table === first.name && columns[i]!.column === first.pk[k] && this.columns.indexOf(this.columns[i]!) === this.columns.lastIndexOf(this.columns[i]!));
    this.byKey = rowWise ? Subscription.restrictToKey(store, sql, this.keyIndexes.map((i) => this.columns[i]!)) : null;
    this.rowWiseTable = this.byKey === null ? null : first!.name;
    this.refresh();
  }

  /** The query wrapped to return one key's row; null when the wrapped text does not prepare (e.g. a trailing semicolon). */
  private static restrictToKey(store: Store, sql: string, keyColumns: string[]): SqlStatement | null {
    try {
      // The newline ends a trailing `--` comment in the user's query before the wrapper resumes.
      return store.prepareQuery(`SELECT * FROM (${sql}\n) WHERE ${keyColumns.map((c) => `"${c.replaceAll('"', '""')}" IS ?`).join(' AND ')}`).raw(true);
    } catch {
      return null;
    }
  }

  /**
   * Brings the result up to date after commits that changed `pks` (primary keys as JSON array
   * text) of `rowWiseTable`; null, or too many keys, re-runs the whole query.
   */
  refreshRows(pks: ReadonlySet<string> | null): void {
    if (this.byKey === null || pks === null || pks.size > incrementalRowsMax) {
      this.refresh();
      return;
    }
    for (const pk of pks) {
      const keyValues = JSON.parse(pk) as Value[];
      const key = JSON.stringify(keyValues);
      const old = this.current.get(key);
      const values = (this.byKey.all(...this.params, ...keyValues) as Value[][])[0];
      if (values === undefined) {
        if (old === undefined) continue;
        this.current.delete(key);
        this.record('delete', old.rowid, old.values);
        continue;
      }
      const json = JSON.stringify(values, blobReplacer);
      if (old === undefined) {
        const rowid = this.nextRowid++;
        this.current.set(key, { rowid, values, json });
        this.record('insert', rowid, values);
      } else if (old.json !== json) {
        this.current.set(key, { rowid: old.rowid, values, json });
        this.record('update', old.rowid, values);
      }
    }
  }

  /** The tables this query reads, so only their changes trigger a re-run. */
  static tablesOf(store: Store, sql: string): Set<string> {
    return new Set([...store.schema.tables.keys()].filter((name) => new RegExp(`\\b${name}\\b`, 'i').test(sql)));
  }

  /** Re-runs the query and records the differences as changes. */
  refresh(): void {
    const next = new Map<string, { rowid: number; values: Value[]; json: string }>();
    for (const values of this.stmt.all(...this.params) as Value[][]) {
      const json = JSON.stringify(values, blobReplacer);
      const key = this.keyIndexes.length > 0 ? JSON.stringify(this.keyIndexes.map((i) => values[i])) : json;
      const old = this.current.get(key);
      const rowid = old?.rowid ?? this.nextRowid++;
      next.set(key, { rowid, values, json });
      if (old === undefined) this.record('insert', rowid, values);
      else if (old.json !== json) this.record('update', rowid, values);
    }
    for (const [key, old] of this.current) if (!next.has(key)) this.record('delete', old.rowid, old.values);
    this.current = next;
  }

  /**
   * Events from `fromChangeId` (exclusive) on, or the current rows first when it is omitted.
   * Ends with StateSubscriptionError if the subscriber falls `subscriptionBufferEventsMax` behind.
   */
  async *events(fromChangeId?: number, signal?: AbortSignal): AsyncGenerator<SubscriptionEvent> {
    const queue: SubscriptionEvent[] = [];
    let wake: (() => void) | null = null;
    let overflow = false;
    const listener = (c: LoggedChange): void => {
      if (queue.length >= this.limits.subscriptionBufferEventsMax) overflow = true;
      else queue.push({ type: 'change', ...c });
      wake?.();
    };
    if (fromChangeId === undefined) {
      queue.push({ type: 'initial', columns: this.columns, rows: [...this.current.values()].map(({ rowid, values }) => ({ rowid, values })), changeId: this.changeId });
    } else {
      const oldest = this.log[0]?.changeId ?? this.changeId + 1;
      if (fromChangeId > this.changeId || fromChangeId < oldest - 1) {
        throw new StateSubscriptionError('subscription_resume_too_old', `cannot resume subscription ${this.id} from change ${fromChangeId}; kept changes are ${oldest}..${this.changeId}`);
      }
      for (const c of this.log) if (c.changeId > fromChangeId) queue.push({ type: 'change', ...c });
    }
    this.listeners.add(listener);
    const onAbort = (): void => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (signal?.aborted !== true) {
        const event = queue.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        if (overflow) throw new StateSubscriptionError('subscription_resume_too_old', `subscriber of ${this.id} fell too far behind; resume from the last change id seen`);
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      this.listeners.delete(listener);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private record(kind: ChangeKind, rowid: number, values: Value[]): void {
    const change = { kind, rowid, values, changeId: ++this.changeId };
    this.log.push(change);
    if (this.log.length > this.limits.subscriptionLogChangesMax) this.log.shift();
    for (const l of this.listeners) l(change);
  }
}

/** Subscriptions of one node, refreshed once per runtime turn after relevant commits. */
export class Subscriptions {
  private readonly store: Store;
  private readonly rt: Runtime;
  private readonly limits: StateLimits;
  private readonly byId = new Map<string, { sub: Subscription; tables: Set<string> }>();
  /** Subscriptions to refresh at the end of this turn, with the rows changed meanwhile (null = all). */
  private readonly dirty = new Map<string, Set<string> | null>();
  private scheduled = false;
  private counter = 0;

  constructor(store: Store, rt: Runtime, limits: StateLimits) {
    this.store = store;
    this.rt = rt;
    this.limits = limits;
    store.onChange((rows) => this.onChange(rows));
  }

  /** Opens a subscription, or returns the existing one for the same query and parameters. */
  open(sql: string, params: unknown[] = []): Subscription {
    for (const { sub } of this.byId.values()) if (sub.sql === sql && JSON.stringify(params) === JSON.stringify(sub.params)) return sub;
    const id = `${this.store.siteId}-${++this.counter}`;
    const sub = new Subscription(id, this.store, sql, params, this.limits);
    this.byId.set(id, { sub, tables: Subscription.tablesOf(this.store, sql) });
    return sub;
  }

  get(id: string): Subscription {
    const entry = this.byId.get(id);
    if (entry === undefined) throw new StateSubscriptionError('subscription_not_found', `no subscription ${id} on this node`);
    return entry.sub;
  }

  private onChange(rows: ReadonlyMap<string, ReadonlySet<string>>): void {
    for (const [id, entry] of this.byId) {
      if (![...rows.keys()].some((t) => entry.tables.has(t))) continue;
      const table = entry.sub.rowWiseTable;
      const pending = this.dirty.get(id);
      if (table === null || pending === null) {
        this.dirty.set(id, null);
        continue;
      }
      const pks = pending ?? new Set<string>();
      for (const pk of rows.get(table) ?? []) pks.add(pk);
      // Beyond the bound a whole re-run is cheaper, and the set stops growing.
      this.dirty.set(id, pks.size > incrementalRowsMax ? null : pks);
    }
    if (this.dirty.size === 0 || this.scheduled) return;
    this.scheduled = true;
    this.rt.schedule(0, () => {
      this.scheduled = false;
      for (const [id, pks] of this.dirty) this.byId.get(id)?.sub.refreshRows(pks);
      this.dirty.clear();
    });
  }
}

/** Blobs go over JSON as base64 strings. */
export function blobReplacer(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && (value as { type?: string }).type === 'Buffer') {
    return { blob: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}
