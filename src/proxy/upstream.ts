/**
 * HTTP/1.1 requests to machines and peer proxies over keep-alive connections, one pool per
 * address. The request head is written straight from headers the client side has parsed, and
 * answers are parsed by http-parser-js and relayed with backpressure: the proxy's CPU per request
 * was mostly undici's dispatcher before (bench:proxy).
 */
import type { ResponseInfo } from 'http-parser-js';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ClientResponse } from './responses.ts';
import { chunkPrefix, chunkSuffix, lastChunk, requestHead, type BodyFraming } from './request-head.ts';
import { UpstreamConnection, type ExchangeEvents } from './upstream-connection.ts';
import { ProxyUpstreamError } from './upstream-errors.ts';

export interface UpstreamCall {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  /** A buffered body (sent with its length), a stream (sent once; not retryable), or none. */
  body: Buffer | Readable | undefined;
  /** Source address to connect from (a peer proxy trusts forwarded requests by their source). */
  localAddress?: string | undefined;
}

/** A response head, with its body still to be taken. */
export interface UpstreamResponse {
  statusCode: number;
  /** Header names and values in the order the target sent them: name, value, name, value… */
  rawHeaders: string[];
  /** Streams the body into `res`; `done` runs once, when the body ended or either side failed. */
  pipeTo(res: ClientResponse, done: () => void): void;
  /** Drops the body (a replay answer). */
  discard(): void;
}

export type UpstreamOutcome =
  | { kind: 'response'; response: UpstreamResponse }
  | { kind: 'error'; error: NodeJS.ErrnoException; connected: boolean };

/** Methods a target may see twice without harm: sent again on a fresh connection when a reused one turns out closed. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * An idle connection is closed after this long: below the 5 s keep-alive timeout of node's
 * servers (and most others), so the proxy closes first and rarely sends on a connection the
 * target is closing.
 */
const connectionIdleMs = 4_000;
/** A pool unused this long is dropped (machines come and go; their pools must not pile up). */
const poolIdleMs = 60_000;

interface Pool {
  idle: UpstreamConnection[];
  all: Set<UpstreamConnection>;
  lastUsedMs: number;
}

/** Keep-alive connections to each machine and peer proxy. */
export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();
  readonly #connectTimeoutMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(connectTimeoutMs: number) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#sweep = setInterval(() => this.#dropUnused(), poolIdleMs);
    this.#sweep.unref();
  }

  /** Sends the request; `abort` cancels it (the client went away). */
  send(call: UpstreamCall): { abort: () => void; outcome: Promise<UpstreamOutcome> } {
    let exchange: Exchange | undefined;
    const outcome = new Promise<UpstreamOutcome>((resolve) => {
      exchange = new Exchange(call, resolve, (fresh) => this.#connection(call, fresh));
    });
    exchange!.start(false);
    return { abort: () => exchange!.abort(), outcome };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const pool of this.#pools.values()) for (const c of pool.all) c.destroy();
    this.#pools.clear();
  }

  /** An idle connection of the call's pool (unless `fresh`), else a new one. */
  #connection(call: UpstreamCall, fresh: boolean): UpstreamConnection {
    const key = `${call.localAddress ?? ''}>${call.host}:${call.port}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) this.#pools.set(key, (pool = { idle: [], all: new Set(), lastUsedMs: 0 }));
    pool.lastUsedMs = performance.now();
    const reused = fresh ? undefined : pool.idle.pop();
    if (reused !== undefined) return reused;
    const owner = pool;
    const connection = new UpstreamConnection({
      host: call.host,
      port: call.port,
      localAddress: call.localAddress,
      connectTimeoutMs: this.#connectTimeoutMs,
      onIdle: (c) => {
        c.idleFor(connectionIdleMs);
        owner.idle.push(c);
      },
      onGone: (c) => {
        owner.all.delete(c);
        const i = owner.idle.indexOf(c);
        if (i >= 0) owner.idle.splice(i, 1);
      },
    });
    pool.all.add(connection);
    return connection;
  }

  #dropUnused(): void {
    const now = performance.now();
    for (const [key, pool] of this.#pools) {
      if (now - pool.lastUsedMs < poolIdleMs || pool.all.size > pool.idle.length) continue;
      this.#pools.delete(key);
      for (const c of pool.all) c.destroy();
    }
  }
}

/** One request and its answer: written to a connection, its body relayed to the client with backpressure. */
class Exchange implements ExchangeEvents {
  readonly #call: UpstreamCall;
  readonly #resolve: (outcome: UpstreamOutcome) => void;
  readonly #connectionFor: (fresh: boolean) => UpstreamConnection;
  #connection: UpstreamConnection | undefined;
  #settled = false;
  #aborted = false;
  /** Body chunks that arrive before the caller attaches the client's response. */
  #pending: Buffer[] = [];
  #ended = false;
  #broken = false;
  #res: ClientResponse | undefined;
  #done: (() => void) | undefined;

  constructor(call: UpstreamCall, resolve: (outcome: UpstreamOutcome) => void, connectionFor: (fresh: boolean) => UpstreamConnection) {
    this.#call = call;
    this.#resolve = resolve;
    this.#connectionFor = connectionFor;
  }

  start(fresh: boolean): void {
    const connection = (this.#connection = this.#connectionFor(fresh));
    // The exchange is its connection's listener: a connection reports to it only until the exchange is done there.
    connection.begin(this);
    try {
      this.#write(connection);
    } catch (err) {
      connection.destroy();
      this.#settle({ kind: 'error', error: err as NodeJS.ErrnoException, connected: false });
    }
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#connection?.destroy();
    this.#settle({ kind: 'error', error: new ProxyUpstreamError('ECONNABORTED', 'the client went away'), connected: true });
  }

  #write(connection: UpstreamConnection): void {
    const { method, path, headers, body, host, port } = this.#call;
    const socket = connection.socket;
    const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (body === undefined || Buffer.isBuffer(body)) {
      const framing: BodyFraming = body === undefined ? 'none' : { length: body.length };
      const head = requestHead(method, path, headers, framing, authority);
      if (body === undefined || body.length === 0) socket.write(head, 'latin1');
      else {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      }
      connection.requestWritten();
      return;
    }
    this.#writeStream(connection, body, authority);
  }

  /** A streamed body keeps the client's declared length, or goes chunked when it had none. */
  #writeStream(connection: UpstreamConnection, body: Readable, authority: string): void {
    const { method, path, headers } = this.#call;
    const socket = connection.socket;
    const declared = Number(headers['content-length']);
    const chunked = !Number.isInteger(declared) || declared < 0;
    socket.write(requestHead(method, path, headers, chunked ? 'chunked' : { length: declared }, authority), 'latin1');
    const onDrain = (): void => void body.resume();
    socket.on('drain', onDrain);
    body.on('data', (chunk: Buffer) => {
      const ok = chunked ? (socket.write(chunkPrefix(chunk.length)), socket.write(chunk), socket.write(chunkSuffix)) : socket.write(chunk);
      if (!ok) body.pause();
    });
    body.once('end', () => {
      socket.off('drain', onDrain);
      if (chunked) socket.write(lastChunk);
      connection.requestWritten();
    });
    // The client's body broke off: the target must not take a truncated request for a whole one.
    body.once('error', () => connection.destroy());
    body.once('close', () => {
      if (!body.readableEnded) connection.destroy();
    });
  }

  head(info: ResponseInfo): boolean {
    this.#settle({ kind: 'response', response: this.#response(info.statusCode, info.headers) });
    return this.#call.method === 'HEAD';
  }

  failed(error: NodeJS.ErrnoException, facts: { answered: boolean; connected: boolean }): void {
    const connection = this.#connection!;
    if (this.#aborted) return;
    // A reused connection the target had already closed: send again on a fresh one where that is harmless.
    const retry = connection.reused && !facts.answered && !this.#settled && (this.#call.body === undefined || Buffer.isBuffer(this.#call.body)) && idempotentMethods.has(this.#call.method);
    if (retry) {
      this.start(true);
      return;
    }
    if (!this.#settled) {
      this.#settle({ kind: 'error', error, connected: facts.connected });
      return;
    }
    // A target that dies mid-body ends the client's response too.
    this.#broken = true;
    this.#res?.destroy();
    this.#finish();
  }

  #settle(outcome: UpstreamOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(outcome);
  }

  #response(statusCode: number, rawHeaders: string[]): UpstreamResponse {
    return {
      statusCode,
      rawHeaders,
      pipeTo: (res, done) => this.#attach(res, done),
      discard: () => {
        this.#aborted = true;
        // An answer already whole left its connection to the pool, for other requests to use.
        if (!this.#ended) this.#connection?.destroy();
      },
    };
  }

  body(chunk: Buffer): void {
    const res = this.#res;
    if (res === undefined) {
      this.#pending.push(chunk);
      return;
    }
    if (!res.write(chunk)) {
      const socket = this.#connection!.socket;
      socket.pause();
      res.once('drain', () => socket.resume());
    }
  }

  complete(): void {
    this.#ended = true;
    this.#res?.end();
  }

  #attach(res: ClientResponse, done: () => void): void {
    this.#res = res;
    this.#done = done;
    res.once('close', () => {
      if (!this.#ended) this.abort();
      this.#finish();
    });
    const pending = this.#pending;
    this.#pending = [];
    if (this.#broken) {
      res.destroy();
      return;
    }
    // The usual small answer is all here already: one end() writes head and body together.
    if (this.#ended && pending.length === 1) {
      res.end(pending[0]);
      return;
    }
    for (const chunk of pending) res.write(chunk);
    if (this.#ended) res.end();
  }

  #finish(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}
