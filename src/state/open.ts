import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Clock, systemClock } from '../lib/clock.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import type { CommitResult, Statement } from './crdt/store.ts';
import { Store } from './crdt/store.ts';
import type { Value } from './crdt/value.ts';
import { defaultLimits, defaultTiming, type StateLimits, type StateTiming } from './limits.ts';
import { StateNode } from './node.ts';
import { osRandom, randomHexFrom } from './random.ts';
import type { Runtime } from './runtime.ts';
import { loadSchemaFile } from './schema/schema.ts';
import { Subscriptions, type Subscription, type SubscriptionEvent } from './subscriptions.ts';
import type { Member, MemberEvent } from './swim/membership.ts';
import { NetTransport } from './transport/net.ts';
import { startHttpApi, type HttpApi } from './http/api.ts';

export interface OpenStateOptions {
  /** Directory holding `state.db` and its pre-migration copies. */
  dataDir: string;
  /** Shared secret of the cluster (at least 16 bytes); packets without it are dropped. */
  clusterKey: Uint8Array;
  /** host:port addresses of existing nodes to join through; may include this node's own. */
  seeds?: readonly string[];
  /** Gossip bind host and port; port 0 picks a free one. Defaults 127.0.0.1:0. */
  host?: string;
  port?: number;
  /** Serve the HTTP API on this port (0 = any free) at `host`; omitted = no HTTP API. */
  httpPort?: number;
  /** Schema file; defaults to the platform schema `schema/platform.sql`. */
  schemaPath?: string;
  timing?: Partial<StateTiming>;
  limits?: Partial<StateLimits>;
  clock?: Clock;
  log?: Logger;
}

/** The result of a query: column names and rows as arrays of values. */
export interface QueryResult {
  columns: string[];
  rows: Value[][];
}

/**
 * A running state node: the library form of the state layer. Writers (agents) call
 * `transaction`; readers (proxy, DNS) call `query` or `subscribe`. All methods may be called at
 * any time from the event loop; `transaction` and `query` are synchronous and never block on
 * the network.
 */
export interface StateHandle {
  readonly id: string;
  /** Gossip address (host:port) other nodes use as a seed. */
  readonly address: string;
  /** Base URL of the HTTP API, when it was asked for. */
  readonly httpUrl: string | undefined;
  transaction(statements: readonly Statement[]): CommitResult;
  query(sql: string, params?: unknown[]): QueryResult;
  /** Initial rows, then every change; pass a change id to resume after a disconnect. */
  subscribe(sql: string, params?: unknown[], options?: { fromChangeId?: number; signal?: AbortSignal }): { id: string; events: AsyncGenerator<SubscriptionEvent> };
  /** Resumes an existing subscription by id from a change id. */
  resume(id: string, fromChangeId: number, signal?: AbortSignal): AsyncGenerator<SubscriptionEvent>;
  members(): Member[];
  onMemberChange(listener: (e: MemberEvent) => void): () => void;
  /** Stops gossip, closes sockets, the HTTP API and the database. */
  close(): Promise<void>;
  /** Internals for tests and the benchmark. */
  readonly node: StateNode;
}

export async function openState(options: OpenStateOptions): Promise<StateHandle> {
  const log = options.log ?? createLogger('state');
  const clock = options.clock ?? systemClock;
  const limits = { ...defaultLimits, ...options.limits };
  const timing = { ...defaultTiming, ...options.timing };
  mkdirSync(options.dataDir, { recursive: true });
  const dbPath = join(options.dataDir, 'state.db');
  const random = osRandom();
  const store = new Store(new Database(dbPath), { schema: loadSchemaFile(options.schemaPath), newSiteId: () => randomHexFrom(random, 8), limits, log, backupPath: dbPath });
  const host = options.host ?? '127.0.0.1';
  const transport = await NetTransport.listen(host, options.port ?? 0, limits, log);
  const timers = new Set<NodeJS.Timeout>();
  const runtime: Runtime = {
    now: () => clock.monotonicMs(),
    random,
    schedule: (afterMs, fn) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, afterMs);
      timers.add(t);
      return () => {
        clearTimeout(t);
        timers.delete(t);
      };
    },
    send: (addr, bytes) => transport.send(addr, bytes),
  };
  const node = new StateNode({ store, runtime, address: transport.address, clusterKey: options.clusterKey, seeds: options.seeds ?? [], timing, limits, log });
  transport.onPacket((bytes) => node.receive(bytes));
  const subscriptions = new Subscriptions(store, runtime, limits);
  const query = (sql: string, params: unknown[] = []): QueryResult => {
    const stmt = store.prepareQuery(sql).raw(true);
    return { columns: stmt.columns().map((c) => c.name), rows: stmt.all(...params) as Value[][] };
  };
  let http: HttpApi | undefined;
  const handle: StateHandle = {
    id: node.id,
    address: transport.address,
    get httpUrl() {
      return http?.url;
    },
    node,
    transaction: (statements) => node.transaction(statements),
    query,
    subscribe: (sql, params = [], opts = {}) => {
      const sub: Subscription = subscriptions.open(sql, params);
      return { id: sub.id, events: sub.events(opts.fromChangeId, opts.signal) };
    },
    resume: (id, fromChangeId, signal) => subscriptions.get(id).events(fromChangeId, signal),
    members: () => node.members(),
    onMemberChange: (listener) => node.onMemberChange(listener),
    close: async () => {
      node.stop();
      for (const t of timers) clearTimeout(t);
      await http?.close();
      await transport.close();
      store.close();
    },
  };
  node.start();
  if (options.httpPort !== undefined) http = await startHttpApi(handle, { host, port: options.httpPort, log, limits });
  log.info({ id: node.id, gossip: transport.address, http: http?.url, schema: store.schema.version }, 'state node started');
  return handle;
}
