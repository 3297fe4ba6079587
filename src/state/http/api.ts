import Fastify, { type FastifyReply } from 'fastify';
import { asAloftError, ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { Statement } from '../crdt/store.ts';
import type { StateLimits } from '../limits.ts';
import type { StateHandle } from '../open.ts';
import { blobReplacer, type SubscriptionEvent } from '../subscriptions.ts';

export interface HttpApi {
  url: string;
  close(): Promise<void>;
}

/** Request bodies are bounded like packets are. */
const bodyBytesMax = 4 * 1024 * 1024;

/**
 * The node's HTTP API, in Corrosion's shapes: `POST /v1/transactions` takes a JSON array of SQL
 * strings or `[sql, params]` pairs; `POST /v1/queries` and `POST /v1/subscriptions` take one
 * query (a string or `[sql, params]`) and stream newline-delimited JSON.
 */
export async function startHttpApi(state: StateHandle, options: { host: string; port: number; log: Logger; limits: StateLimits }): Promise<HttpApi> {
  const app = Fastify({ bodyLimit: bodyBytesMax, logger: false });
  app.setErrorHandler((err, _req, reply) => {
    const e = asAloftError(err);
    void reply.status(e.status).send(e.toJSON());
  });

  app.post('/v1/transactions', async (req) => {
    const started = performance.now();
    const statements = parseStatements(req.body);
    const result = state.transaction(statements);
    const time = (performance.now() - started) / 1000;
    return { results: result.results.map((r) => ({ rows_affected: r.rowsAffected, time })), time, version: result.version };
  });

  app.post('/v1/queries', async (req, reply) => {
    const started = performance.now();
    const q = parseQuery(req.body);
    const result = state.query(q.sql, q.params);
    const out = ndjson(reply);
    out.write({ columns: result.columns });
    let rowid = 0;
    for (const row of result.rows.slice(0, options.limits.queryRowsMax)) out.write({ row: [++rowid, row] });
    if (result.rows.length > options.limits.queryRowsMax) out.write({ error: `result cut at ${options.limits.queryRowsMax} rows` });
    out.write({ eoq: { time: (performance.now() - started) / 1000 } });
    out.end();
  });

  app.post('/v1/subscriptions', async (req, reply) => {
    const q = parseQuery(req.body);
    const from = parseFrom((req.query as { from?: string }).from);
    const controller = new AbortController();
    const sub = state.subscribe(q.sql, q.params, { ...(from === undefined ? {} : { fromChangeId: from }), signal: controller.signal });
    await stream(reply, sub.id, sub.events, controller);
  });

  app.get('/v1/subscriptions/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const from = parseFrom((req.query as { from?: string }).from) ?? 0;
    const controller = new AbortController();
    const events = state.resume(id, from, controller.signal);
    await stream(reply, id, events, controller);
  });

  app.get('/v1/members', async () =>
    state.members().map((m) => ({ id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation })),
  );
  app.get('/v1/health', async () => ({ ok: true, id: state.id, version: state.node.store.head() }));

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return { url: `http://${options.host}:${port}`, close: () => app.close() };
}

/** Streams subscription events; the first event is pulled before the headers go out so errors get a status code. */
async function stream(reply: FastifyReply, id: string, events: AsyncGenerator<SubscriptionEvent>, controller: AbortController): Promise<void> {
  const first = await events.next();
  reply.header('aloft-query-id', id).header('corro-query-id', id);
  const out = ndjson(reply);
  reply.raw.on('close', () => controller.abort());
  const write = (e: SubscriptionEvent): void => {
    if (e.type === 'initial') {
      out.write({ columns: e.columns });
      for (const r of e.rows) out.write({ row: [r.rowid, r.values] });
      out.write({ eoq: { time: 0, change_id: e.changeId } });
    } else out.write({ change: [e.kind, e.rowid, e.values, e.changeId] });
  };
  if (first.done !== true) write(first.value);
  try {
    for await (const e of events) write(e);
  } catch (err) {
    out.write({ error: asAloftError(err).message });
  }
  out.end();
}

function ndjson(reply: FastifyReply): { write(v: unknown): void; end(): void } {
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', ...(reply.getHeaders() as Record<string, string>) });
  return {
    write: (v) => {
      if (!reply.raw.destroyed) reply.raw.write(`${JSON.stringify(v, blobReplacer)}\n`);
    },
    end: () => reply.raw.end(),
  };
}

function parseStatements(body: unknown): Statement[] {
  if (!Array.isArray(body)) throw new ValidationError('body must be a JSON array of statements', { field: 'body' });
  return body.map((s, i) => toStatement(s, `body[${i}]`));
}

function parseQuery(body: unknown): { sql: string; params: unknown[] } {
  const s = toStatement(body, 'body');
  return { sql: s.sql, params: Array.isArray(s.params) ? s.params : [] };
}

function toStatement(s: unknown, field: string): Statement {
  if (typeof s === 'string') return { sql: s };
  if (Array.isArray(s) && typeof s[0] === 'string' && (s.length === 1 || Array.isArray(s[1]) || (typeof s[1] === 'object' && s[1] !== null))) {
    return { sql: s[0], params: s[1] as Statement['params'] };
  }
  if (typeof s === 'object' && s !== null && typeof (s as { sql?: unknown }).sql === 'string') return s as Statement;
  throw new ValidationError(`${field} must be an SQL string or [sql, params]`, { field });
}

function parseFrom(from: string | undefined): number | undefined {
  if (from === undefined) return undefined;
  const n = Number(from);
  if (!Number.isSafeInteger(n) || n < 0) throw new ValidationError('from must be a change id', { field: 'from' });
  return n;
}
