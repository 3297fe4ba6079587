/**
 * The fast path for HTTP/1.1 client connections. Most requests through an edge are a plain head
 * with no body; node:http's request and response objects cost more CPU per such request than
 * the rest of the proxy (bench:proxy). This reads them straight off the socket and answers with
 * Http1Response.
 *
 * It takes only the plain form: a known method, an origin-form target of visible ASCII,
 * HTTP/1.1, `name: value` fields of token names and field-value characters, each name once, a
 * Host, no body (content-length 0 at most), no transfer-encoding, expect, upgrade or
 * proxy-connection. Anything
 * else — and any head it cannot read — is handed, with every byte not yet answered, to node:http
 * (llhttp), which answers it and the rest of the connection. So what a request means is decided
 * by node's parser wherever there is anything to decide; a generic parser here (http-parser-js
 * accepts obs-fold, bare LF and any byte in a field name) would have been a second opinion.
 * Requests are answered one at a time, in order; pipelined ones wait in the buffer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { fieldLinePattern } from './http-syntax.ts';
import { Http1Response, type ResponseOwner } from './http1-response.ts';
import type { ProxyLimits } from './limits.ts';
import { clientErrorReply } from './responses.ts';

/** A request the fast path took: its head only, since it has no body. */
export interface Http1Request {
  readonly method: string;
  readonly url: string;
  /** Lower-case names, as node's IncomingMessage has them (each name appears once on this path). */
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: '1.1';
  readonly bodiless: true;
}

export interface Http1ConnectionDeps {
  limits: Pick<ProxyLimits, 'headerBytesMax' | 'headersTimeoutMs' | 'keepAliveTimeoutMs'>;
  request(req: Http1Request, res: Http1Response, client: Socket): void;
  /** node:http takes the connection over; the bytes this path had not answered are back on the socket, paused. */
  handOff(socket: Socket): void;
}

const headEnd = Buffer.from('\r\n\r\n');
/** Methods this path takes; others (CONNECT, WebDAV's…) go to node:http. */
const fastMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Origin-form targets (`/…`) only; `*`, absolute and authority forms go to node:http, which knows which method may use which. */
const requestLinePattern = /^([A-Z]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/;

interface ParsedHead {
  req: Http1Request;
  closes: boolean;
}

/** The request in `head` (request line and fields, without the blank line), or undefined when it is not for this path. */
function parseHead(head: string): ParsedHead | undefined {
  const lines = head.split('\r\n');
  const requestLine = requestLinePattern.exec(lines[0]!);
  if (requestLine === null || !fastMethods.has(requestLine[1]!)) return undefined;
  const headers: IncomingHttpHeaders = {};
  let closes = false;
  for (let i = 1; i < lines.length; i++) {
    const field = fieldLinePattern.exec(lines[i]!);
    if (field === null) return undefined;
    const name = field[1]!.toLowerCase();
    // A repeated name has node's rules (joined, first kept, or refused); an inherited one (__proto__, constructor) is not a plain key.
    if (headers[name] !== undefined || name === '__proto__') return undefined;
    const value = trimWhitespace(field[2]!);
    switch (name) {
      case 'content-length':
        if (value !== '0') return undefined;
        break;
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
      case 'proxy-connection':
        return undefined;
      case 'connection': {
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'upgrade') return undefined;
          if (t === 'close') closes = true;
        }
        break;
      }
    }
    headers[name] = value;
  }
  // node:http answers a request without a Host 400.
  if (headers.host === undefined) return undefined;
  return { req: { method: requestLine[1]!, url: requestLine[2]!, headers, httpVersion: '1.1', bodiless: true }, closes };
}

/** Whether a line feed at `from` or later lacks its carriage return. */
function hasBareLineFeed(bytes: Buffer, from: number): boolean {
  for (let i = bytes.indexOf(10, from); i >= 0; i = bytes.indexOf(10, i + 1)) if (i === 0 || bytes[i - 1] !== 13) return true;
  return false;
}

/** Without the spaces and tabs around a field value (not String.trim: 0xA0 is obs-text here, not whitespace). */
function trimWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

export class Http1Connection implements ResponseOwner {
  readonly #socket: Socket;
  readonly #deps: Http1ConnectionDeps;
  /** Bytes read and not yet taken as a request. */
  #buffer: Buffer | undefined;
  /** How much of #buffer was already searched for a head's end: a head sent in small pieces is searched once, not once per piece. */
  #scanned = 0;
  /** Where a head arriving in pieces is gathered, grown by doubling so that gathering costs linear copying. */
  #store: Buffer | undefined;
  /** The answer in progress; requests behind it wait. */
  #current: Http1Response | undefined;
  #headTimer: NodeJS.Timeout | undefined;
  /** Reading waits until the client has taken the answers already written. */
  #waitingForDrain = false;
  /** The client will send nothing more: once answered, the connection closes. */
  #clientEnded = false;
  readonly #onData = (chunk: Buffer): void => this.#data(chunk);
  readonly #onClose = (): void => this.#closed();
  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#socket.resume();
    this.#next();
  };
  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    if (this.#current === undefined) this.#close();
  };
  /** Idle between requests: closed. A request being answered, or a head still arriving (its own timer answers 408), is not idle. */
  readonly #onTimeout = (): void => {
    if (this.#current === undefined && this.#buffer === undefined) this.#socket.destroy();
  };

  constructor(socket: Socket, first: Buffer | undefined, deps: Http1ConnectionDeps) {
    this.#socket = socket;
    this.#deps = deps;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('timeout', this.#onTimeout);
    socket.setTimeout(deps.limits.keepAliveTimeoutMs);
    // A connection that has sent nothing yet (TLS, after its handshake) has the head's time to send its first one.
    if (first === undefined) this.#startHeadTimer();
    else this.#data(first);
  }

  finished(res: Http1Response): void {
    if (res !== this.#current) return;
    this.#current = undefined;
    if (res.closesConnection || (this.#clientEnded && this.#buffer === undefined)) {
      this.#close();
      return;
    }
    // On the next tick: answers written at once (errors) must not recurse through a pipelined buffer.
    if (this.#buffer !== undefined) process.nextTick(() => this.#next());
    else if (this.#socket.isPaused() && !this.#waitingForDrain) this.#socket.resume();
  }

  #data(chunk: Buffer): void {
    if (this.#buffer === undefined) {
      this.#buffer = chunk;
      this.#scanned = 0;
    } else this.#buffer = this.#append(this.#buffer, chunk);
    if (this.#current === undefined) this.#next();
    // Pipelined requests wait for the answer ahead of them; a client that keeps sending waits too.
    else if (this.#buffer.length > this.#deps.limits.headerBytesMax) this.#socket.pause();
  }

  #next(): void {
    const socket = this.#socket;
    while (this.#current === undefined && this.#buffer !== undefined && !socket.destroyed) {
      // A client that pipelines without reading its answers would have them pile up here.
      if (socket.writableNeedDrain) {
        socket.pause();
        if (!this.#waitingForDrain) {
          this.#waitingForDrain = true;
          socket.once('drain', this.#onDrain);
        }
        return;
      }
      if (socket.isPaused()) socket.resume();
      const buffer = this.#buffer;
      const limit = this.#deps.limits.headerBytesMax;
      const end = buffer.indexOf(headEnd, Math.max(0, this.#scanned - (headEnd.length - 1)));
      // A line ended by a bare LF is not this path's to read (node may end the head there, or refuse it).
      if (end < 0 && buffer.length <= limit && !hasBareLineFeed(buffer, this.#scanned)) {
        this.#scanned = buffer.length;
        this.#startHeadTimer();
        return;
      }
      const parsed = end < 0 || end + headEnd.length > limit ? undefined : parseHead(buffer.toString('latin1', 0, end));
      if (parsed === undefined) {
        // Too large, malformed or just not plain: node:http answers it (431, 400, or serves it).
        this.#handOff();
        return;
      }
      this.#buffer = end + headEnd.length < buffer.length ? buffer.subarray(end + headEnd.length) : undefined;
      this.#scanned = 0;
      if (this.#headTimer !== undefined) {
        clearTimeout(this.#headTimer);
        this.#headTimer = undefined;
      }
      const res = new Http1Response(socket, this, { method: parsed.req.method, closesConnection: parsed.closes, keepAliveSeconds: Math.max(1, Math.floor(this.#deps.limits.keepAliveTimeoutMs / 1000)) });
      this.#current = res;
      this.#deps.request(parsed.req, res, socket);
    }
  }

  /** `buffer` followed by `chunk`, appended in place when `buffer` is the start of the store and it has room. */
  #append(buffer: Buffer, chunk: Buffer): Buffer {
    const size = buffer.length + chunk.length;
    const store = this.#store;
    if (store !== undefined && buffer.buffer === store.buffer && buffer.byteOffset === store.byteOffset && size <= store.length) {
      chunk.copy(store, buffer.length);
      return store.subarray(0, size);
    }
    const grown = Buffer.allocUnsafe(Math.max(size, buffer.length * 2, 1024));
    buffer.copy(grown, 0);
    chunk.copy(grown, buffer.length);
    this.#store = grown;
    return grown.subarray(0, size);
  }

  #startHeadTimer(): void {
    this.#headTimer ??= setTimeout(() => this.#headTimedOut(), this.#deps.limits.headersTimeoutMs);
  }

  #headTimedOut(): void {
    this.#headTimer = undefined;
    if (this.#current !== undefined || this.#socket.destroyed) return;
    this.#socket.write(clientErrorReply('ERR_HTTP_REQUEST_TIMEOUT'));
    this.#close();
  }

  /** Ends the connection once what was written has gone: not held open by a client that keeps its half open. */
  #close(): void {
    this.#detach();
    this.#socket.destroySoon();
  }

  #handOff(): void {
    // After the client's end a socket takes nothing back: node:http could not read it either, so it is closed as node would.
    if (this.#clientEnded) {
      this.#close();
      return;
    }
    const socket = this.#socket;
    const rest = this.#buffer;
    this.#detach();
    socket.pause();
    if (rest !== undefined) socket.unshift(rest);
    this.#deps.handOff(socket);
  }

  /** This path is done with the socket: no more reading, no timers or listeners of its own. */
  #detach(): void {
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('timeout', this.#onTimeout);
    socket.off('drain', this.#onDrain);
    socket.setTimeout(0);
    if (this.#headTimer !== undefined) clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
    this.#buffer = undefined;
    this.#store = undefined;
    // 'close' stays watched while an answer is in flight, so that answer learns of it.
    if (this.#current === undefined) socket.off('close', this.#onClose);
  }

  #closed(): void {
    if (this.#headTimer !== undefined) clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
    const current = this.#current;
    this.#current = undefined;
    current?.socketClosed();
  }
}
