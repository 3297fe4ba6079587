/**
 * One HTTP request to a machine or a peer proxy, over a keep-alive pool per address (undici's
 * dispatcher: about half the CPU per request of node:http's client, which dominated the proxy's
 * cost), reporting whether it ever connected (retry safety) and streaming the body with
 * backpressure.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { ClientResponse } from './frontend.ts';

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
  headers: IncomingHttpHeaders;
  /** Streams the body into `res`; `done` runs once, when the body ended or either side failed. */
  pipeTo(res: ClientResponse, done: () => void): void;
  /** Drops the body (a replay answer). */
  discard(): void;
}

export type UpstreamOutcome =
  | { kind: 'response'; response: UpstreamResponse }
  | { kind: 'error'; error: NodeJS.ErrnoException; connected: boolean };

/** Error codes meaning the target never received the request: sending it elsewhere is safe. */
const notConnected = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND']);
/** Request headers undici refuses to send itself (the proxy has already dealt with each). */
const refusedByDispatcher = new Set(['expect']);

/** Keep-alive connections to each machine and peer proxy; idle pools are closed after a while. */
export class UpstreamPools {
  readonly #pools = new Map<string, { pool: Pool; lastUsedMs: number }>();
  readonly #connectTimeoutMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(connectTimeoutMs: number) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#sweep = setInterval(() => this.#closeIdle(), poolIdleMs);
    this.#sweep.unref();
  }

  /** Sends the request; `abort` cancels it (the client went away). */
  send(call: UpstreamCall): { abort: () => void; outcome: Promise<UpstreamOutcome> } {
    const pool = this.#pool(call.host, call.port, call.localAddress);
    const headers: Record<string, string | string[]> = {};
    for (const k in call.headers) {
      const v = call.headers[k];
      if (v !== undefined && !refusedByDispatcher.has(k)) headers[k] = typeof v === 'number' ? String(v) : v;
    }
    if (call.body instanceof Buffer) headers['content-length'] = String(call.body.length);
    let controller: Dispatcher.DispatchController | undefined;
    let aborted = false;
    const abort = (): void => {
      aborted = true;
      controller?.abort(new Error('client went away'));
    };
    const outcome = new Promise<UpstreamOutcome>((resolve) => {
      const body = new BodySink();
      let settled = false;
      pool.dispatch(
        { path: call.path, method: call.method as Dispatcher.HttpMethod, headers, body: call.body ?? null },
        {
          onRequestStart(c) {
            controller = c;
            if (aborted) c.abort(new Error('client went away'));
          },
          onResponseStart(c, statusCode, responseHeaders) {
            settled = true;
            body.controller = c;
            resolve({ kind: 'response', response: body.response(statusCode, responseHeaders as IncomingHttpHeaders) });
          },
          onResponseData(_c, chunk) {
            body.data(chunk);
          },
          onResponseEnd() {
            body.end();
          },
          onResponseError(_c, error) {
            if (!settled) {
              settled = true;
              const code = (error as NodeJS.ErrnoException).code ?? '';
              resolve({ kind: 'error', error: error as NodeJS.ErrnoException, connected: !notConnected.has(code) });
              return;
            }
            body.fail();
          },
        },
      );
    });
    return { abort, outcome };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.destroy().catch(() => undefined)));
  }

  #pool(host: string, port: number, localAddress: string | undefined): Pool {
    const key = `${localAddress ?? ''}>${host}:${port}`;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      entry = { pool: new Pool(origin, { connect: { timeout: this.#connectTimeoutMs, noDelay: true, ...(localAddress === undefined ? {} : { localAddress }) }, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 }), lastUsedMs: 0 };
      this.#pools.set(key, entry);
    }
    entry.lastUsedMs = performance.now();
    return entry.pool;
  }

  #closeIdle(): void {
    const now = performance.now();
    for (const [key, entry] of this.#pools) {
      if (now - entry.lastUsedMs < poolIdleMs) continue;
      this.#pools.delete(key);
      void entry.pool.close().catch(() => undefined);
    }
  }
}

/** A pool unused this long is closed (machines come and go; their pools must not pile up). */
const poolIdleMs = 60_000;

/** Holds body chunks that arrive before the caller attaches, then relays them with backpressure. */
class BodySink {
  controller: Dispatcher.DispatchController | undefined;
  #pending: Buffer[] = [];
  #ended = false;
  #failed = false;
  #res: ClientResponse | undefined;
  #done: (() => void) | undefined;

  response(statusCode: number, headers: IncomingHttpHeaders): UpstreamResponse {
    return {
      statusCode,
      headers,
      pipeTo: (res, done) => this.#attach(res, done),
      discard: () => this.controller?.abort(new Error('body not wanted')),
    };
  }

  data(chunk: Buffer): void {
    if (this.#res === undefined) {
      this.#pending.push(chunk);
      return;
    }
    if (!(this.#res as NodeJS.WritableStream).write(chunk)) {
      this.controller?.pause();
      this.#res.once('drain', () => this.controller?.resume());
    }
  }

  end(): void {
    this.#ended = true;
    if (this.#res !== undefined) this.#res.end();
  }

  fail(): void {
    this.#failed = true;
    // A machine that dies mid-body ends the client's response too.
    this.#res?.destroy();
    this.#finish();
  }

  #attach(res: ClientResponse, done: () => void): void {
    this.#res = res;
    this.#done = done;
    res.once('close', () => {
      if (!this.#ended) this.controller?.abort(new Error('client went away'));
      this.#finish();
    });
    const pending = this.#pending;
    this.#pending = [];
    if (this.#failed) {
      res.destroy();
      return;
    }
    for (const chunk of pending) (res as NodeJS.WritableStream).write(chunk);
    if (this.#ended) res.end();
  }

  #finish(): void {
    const done = this.#done;
    this.#done = undefined;
    done?.();
  }
}
