/**
 * One keep-alive HTTP/1.1 connection to a machine or a peer proxy. It carries one exchange at a
 * time (no pipelining), parses the answers with http-parser-js, and goes back to its pool when
 * an answer ended cleanly and both sides want to keep it.
 */
import { HTTPParser, type ResponseInfo } from 'http-parser-js';
import { connect, type Socket } from 'node:net';
import { ProxyUpstreamError } from './upstream-errors.ts';

// Header bytes as latin1, like node's own parser: UTF-8 in a value then passes through byte for
// byte when written again ('ascii', the module's default, would clear every high bit).
HTTPParser.encoding = 'latin1';
// Bytes of status line and headers an answer may have. A module setting too: the parser puts it
// back on every instance after each message.
HTTPParser.maxHeaderSize = 64 * 1024;

/** What a connection reports to the exchange it carries. */
export interface ExchangeEvents {
  /** The answer's head (informational 1xx answers are skipped); return true when it has no body (HEAD). */
  head(info: ResponseInfo): boolean;
  /** A piece of the body. */
  body(chunk: Buffer): void;
  /** The answer ended. */
  complete(): void;
  /**
   * The exchange failed. `answered`: some of the answer had arrived; `connected`: the target
   * accepted the connection, so it may have seen the request.
   */
  failed(error: NodeJS.ErrnoException, facts: { answered: boolean; connected: boolean }): void;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  localAddress?: string | undefined;
  connectTimeoutMs: number;
  /** Called when the connection can take another exchange. */
  onIdle(connection: UpstreamConnection): void;
  /** Called once when it is closed and must be forgotten. */
  onGone(connection: UpstreamConnection): void;
}

/** Status codes whose answers never have a body (RFC 9112 §6.3), even when they carry the representation's content-length (a 304 may). */
function bodiless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/**
 * Why the answer's framing cannot be relayed, or undefined. The content-length goes on to the
 * client (or peer proxy) as it came, so it must be the one the body was read by: not beside a
 * transfer-encoding (http-parser-js reads such a body chunked; the client would take the length,
 * and the rest of the body as a next answer: RFC 9112 §6.1 forbids sending both), and not a
 * form this parser reads (`+'0x10'` is 16) that another would not.
 */
function framingFault(headers: readonly string[]): string | undefined {
  let length = false;
  let encoded = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (!/^\d+$/.test(headers[i + 1]!)) return `the answer's content-length '${headers[i + 1]!.slice(0, 40)}' is not a number of bytes`;
      length = true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') encoded = true;
  }
  return length && encoded ? 'the answer has both a content-length and a transfer-encoding' : undefined;
}

export class UpstreamConnection {
  readonly socket: Socket;
  /** It has carried an exchange before: a failure before any answer may mean the target closed it meanwhile. */
  reused = false;
  readonly #opts: ConnectionOptions;
  readonly #parser = new HTTPParser(HTTPParser.RESPONSE);
  #connected = false;
  #events: ExchangeEvents | undefined;
  #answered = false;
  /** An informational (1xx) answer is being skipped; its end is not the exchange's. */
  #interim = false;
  #keepAlive = false;
  #requestWritten = false;
  #gone = false;

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
    this.#parser[HTTPParser.kOnHeadersComplete] = (info) => this.#head(info);
    this.#parser[HTTPParser.kOnBody] = (chunk) => this.#events?.body(chunk);
    this.#parser[HTTPParser.kOnMessageComplete] = () => this.#complete();
    this.socket = connect({ host: opts.host, port: opts.port, noDelay: true, timeout: opts.connectTimeoutMs, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
    this.socket.once('connect', () => {
      this.#connected = true;
      this.socket.setTimeout(0);
    });
    // Before the connection opens this is the connect timeout; after, the pool's idle timeout.
    this.socket.on('timeout', () => this.socket.destroy(this.#connected ? undefined : new ProxyUpstreamError('ETIMEDOUT', `no connection within ${opts.connectTimeoutMs} ms`)));
    this.socket.on('data', (chunk: Buffer) => this.#data(chunk));
    this.socket.on('end', () => this.#end());
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.#fail(err));
    this.socket.on('close', () => this.#fail(new ProxyUpstreamError('ECLOSED', 'the connection closed before the answer ended')));
  }

  /** Starts an exchange; its request is then written to `socket`, and requestWritten() called once all of it is. */
  begin(events: ExchangeEvents): void {
    this.#events = events;
    this.#answered = false;
    this.#interim = false;
    this.#requestWritten = false;
    if (this.#connected) this.socket.setTimeout(0);
    // The last exchange may have paused it for a slow client and ended before that client drained.
    this.socket.resume();
  }

  /** While idle in its pool: closed after `ms` without an exchange. */
  idleFor(ms: number): void {
    this.socket.setTimeout(ms);
  }

  /** The whole request, body included, has been handed to the socket. */
  requestWritten(): void {
    this.#requestWritten = true;
  }

  /** Drops the connection (the exchange was abandoned, or the pool closes). */
  destroy(): void {
    this.#events = undefined;
    this.socket.destroy();
  }

  #head(info: ResponseInfo): boolean {
    if (this.#events === undefined) {
      // An answer nobody asked for (a second one after the first ended): the target is broken.
      this.socket.destroy();
      return true;
    }
    this.#answered = true;
    if (info.statusCode === 101 || info.upgrade) {
      this.#fail(new ProxyUpstreamError('EBADRESPONSE', 'the target switched protocols on a request that did not ask it to'));
      return true;
    }
    if (info.statusCode < 200) {
      this.#interim = true;
      return true;
    }
    const fault = framingFault(info.headers);
    if (fault !== undefined) {
      this.#fail(new ProxyUpstreamError('EBADRESPONSE', fault));
      return true;
    }
    this.#keepAlive = info.shouldKeepAlive;
    const noBody = this.#events?.head(info) === true;
    return noBody || bodiless(info.statusCode);
  }

  #complete(): void {
    if (this.#interim) {
      this.#interim = false;
      return;
    }
    const events = this.#events;
    if (events === undefined) return;
    this.#events = undefined;
    events.complete();
    // An answer that came before the request was all sent leaves the target mid-read: not reusable.
    if (this.#keepAlive && this.#requestWritten && !this.socket.destroyed) {
      this.reused = true;
      this.#opts.onIdle(this);
    } else this.socket.destroy();
  }

  #data(chunk: Buffer): void {
    if (this.#events === undefined) {
      // Nothing was asked: bytes now are a broken target; the connection cannot be trusted.
      this.socket.destroy();
      return;
    }
    const result = this.#parser.execute(chunk);
    if (result instanceof Error) this.#fail(new ProxyUpstreamError('EBADRESPONSE', `the answer is not valid HTTP/1.1: ${result.message}`));
  }

  #end(): void {
    // A body delimited by the connection's close ends here; any other answer was cut short.
    if (this.#events !== undefined && this.#parser.finish() === undefined && this.#events === undefined) return;
    this.#fail(new ProxyUpstreamError('ECLOSED', 'the target closed the connection before the answer ended'));
  }

  #fail(error: NodeJS.ErrnoException): void {
    const events = this.#events;
    this.#events = undefined;
    if (!this.#gone) {
      this.#gone = true;
      this.#opts.onGone(this);
    }
    this.socket.destroy();
    events?.failed(error, { answered: this.#answered, connected: this.#connected });
  }
}
