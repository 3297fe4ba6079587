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

/**
 * A live query. Whenever a committed change (local or merged) touches a table the query reads,
 * the query is re-run once per runtime turn and its result diffed against the previous one by
 * row key (the first table's primary key if the result carries it, else the whole row). Every
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
    this.refresh();
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
  private readonly dirty = new Set<string>();
  private scheduled = false;
  private counter = 0;

  constructor(store: Store, rt: Runtime, limits: StateLimits) {
    this.store = store;
    this.rt = rt;
    this.limits = limits;
    store.onChange((tables) => this.onChange(tables));
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

  private onChange(tables: ReadonlySet<string>): void {
    for (const [id, entry] of this.byId) if ([...tables].some((t) => entry.tables.has(t))) this.dirty.add(id);
    if (this.dirty.size === 0 || this.scheduled) return;
    this.scheduled = true;
    this.rt.schedule(0, () => {
      this.scheduled = false;
      for (const id of this.dirty) this.byId.get(id)?.sub.refresh();
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
