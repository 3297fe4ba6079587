/**
 * The answer to one request the HTTP/1.1 fast path took (see http1-connection.ts): the part of
 * node's ServerResponse the proxy uses (writeHead, write, end, destroy, 'close' and 'drain'),
 * written straight to the client's socket. The head waits for the first body bytes, so a whole
 * small answer leaves in one write with its length, and one that streams goes chunked.
 */
import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { fieldValuePattern, tokenPattern } from './http-syntax.ts';
import { ProxyResponseHeadError } from './upstream-errors.ts';

/** What the connection needs to hear from the answer it is waiting on. */
export interface ResponseOwner {
  /** The answer has been handed to the socket whole; the connection may read its next request. */
  finished(res: Http1Response): void;
}

/** Headers that describe this connection and this proxy's framing of the body, so only this proxy writes them. */
const ownHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding']);
/** Below this a body goes out in the same write as its head, as one latin1 string (byte for byte). */
const joinedWriteMax = 16 * 1024;

let dateCache = '';
let dateCacheSecond = -1;
/** The Date header node's servers send, computed at most once a second. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateCacheSecond) {
    dateCacheSecond = second;
    dateCache = new Date(second * 1000).toUTCString();
  }
  return dateCache;
}

interface SeenHeaders {
  length: boolean;
  date: boolean;
  /** The caller's headers ask for the connection to close after this answer. */
  close: boolean;
}

/** One header line, checked as node's writeHead checks it; the headers this connection owns are noted in `seen` and left out. */
function headerLine(name: string, value: string, seen: SeenHeaders): string {
  if (!tokenPattern.test(name)) throw new ProxyResponseHeadError('ERR_INVALID_HTTP_TOKEN', `header name '${name.slice(0, 60)}' is not a valid HTTP token`);
  if (!fieldValuePattern.test(value)) throw new ProxyResponseHeadError('ERR_INVALID_CHAR', `header '${name}' has a value with a character HTTP does not allow (a line break or a control character)`);
  // Only names as long as the ones looked for are lowered: this runs for every header of every answer.
  const lower = name.length === 14 || name.length === 4 || name.length === 10 || name.length === 17 ? name.toLowerCase() : '';
  if (lower === 'content-length') seen.length = true;
  else if (lower === 'date') seen.date = true;
  else if (ownHeaders.has(lower)) {
    if (lower === 'connection' && /(^|,)[\t ]*close[\t ]*(,|$)/i.test(value)) seen.close = true;
    return '';
  }
  return `${name}: ${value}\r\n`;
}

type ResponseEvent = 'close' | 'drain';

export class Http1Response {
  headersSent = false;
  destroyed = false;
  readonly #socket: Socket;
  readonly #owner: ResponseOwner;
  readonly #bodiless: boolean;
  #status = 200;
  /** Status line and headers, without the framing header and the blank line: set by writeHead, sent with the first bytes. */
  #head: string | undefined;
  #hasLength = false;
  #hasDate = false;
  /** The connection closes after this answer (the client asked, or the answer says so). */
  #closes: boolean;
  /** The `keep-alive: timeout=` hint for a connection that stays open, so clients stop reusing it before the proxy closes it. */
  readonly #keepAliveSeconds: number;
  #chunked = false;
  #ended = false;
  #drainWanted = false;
  /** Listeners by event, each called once (the proxy only ever waits for the next 'close' or 'drain'): cheaper than an EventEmitter per request. */
  #listeners: Record<ResponseEvent, Array<() => void>> = { close: [], drain: [] };

  constructor(socket: Socket, owner: ResponseOwner, opts: { method: string; closesConnection: boolean; keepAliveSeconds: number }) {
    this.#socket = socket;
    this.#owner = owner;
    this.#bodiless = opts.method === 'HEAD';
    this.#closes = opts.closesConnection;
    this.#keepAliveSeconds = opts.keepAliveSeconds;
  }

  get closesConnection(): boolean {
    return this.#closes;
  }

  once(event: ResponseEvent, listener: () => void): this {
    this.#listeners[event].push(listener);
    return this;
  }

  off(event: ResponseEvent, listener: () => void): this {
    const list = this.#listeners[event];
    const i = list.lastIndexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  /** Headers as an object or flat name, value, …; throws ProxyResponseHeadError for a name or value that cannot be written. */
  writeHead(status: number, headers: OutgoingHttpHeaders | readonly string[]): this {
    if (this.headersSent) throw new ProxyResponseHeadError('ERR_HTTP_HEADERS_SENT', 'the answer head was already written');
    // What the headers say is kept only once all of them could be written: a refused head leaves room for the 502 that replaces it.
    const seen: SeenHeaders = { length: false, date: false, close: false };
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) head += headerLine(headers[i]!, headers[i + 1]!, seen);
    } else {
      for (const name in headers as OutgoingHttpHeaders) {
        const value = (headers as OutgoingHttpHeaders)[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) head += headerLine(name, v, seen);
        else head += headerLine(name, String(value), seen);
      }
    }
    this.#status = status;
    this.#head = head;
    this.#hasLength = seen.length;
    this.#hasDate = seen.date;
    if (seen.close) this.#closes = true;
    this.headersSent = true;
    return this;
  }

  /** Sends a piece of the body; false when the socket's buffer is full ('drain' follows). */
  write(chunk: Buffer): boolean {
    if (this.destroyed || this.#ended) return false;
    if (!this.headersSent) this.writeHead(200, {});
    if (this.#head !== undefined) this.#flushHead(undefined);
    if (this.#noBody() || chunk.length === 0) return true;
    let ok: boolean;
    if (this.#chunked) {
      // One write to the socket for the chunk and its framing, not three.
      this.#socket.cork();
      this.#socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.#socket.write(chunk);
      ok = this.#socket.write('\r\n', 'latin1');
      this.#socket.uncork();
    } else ok = this.#socket.write(chunk);
    if (!ok && !this.#drainWanted) {
      this.#drainWanted = true;
      this.#socket.once('drain', () => {
        this.#drainWanted = false;
        this.#emit('drain');
      });
    }
    return ok;
  }

  end(chunk?: Buffer | string): this {
    if (this.destroyed || this.#ended) return this;
    if (!this.headersSent) this.writeHead(200, {});
    const body = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#head !== undefined) this.#flushHead(body ?? Buffer.alloc(0));
    else if (body !== undefined) this.write(body);
    if (this.#chunked) this.#socket.write('0\r\n\r\n', 'latin1');
    this.#ended = true;
    this.#owner.finished(this);
    process.nextTick(() => this.#close());
    return this;
  }

  destroy(): this {
    if (!this.destroyed) this.#socket.destroy();
    this.#close();
    return this;
  }

  /** The connection went away (or the answer is done): 'close', once, as node's responses do. */
  socketClosed(): void {
    this.#close();
  }

  #close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.#emit('close');
  }

  #emit(event: ResponseEvent): void {
    const list = this.#listeners[event];
    if (list.length === 0) return;
    this.#listeners[event] = [];
    for (const listener of list) listener();
  }

  #noBody(): boolean {
    return this.#bodiless || this.#status === 204 || this.#status === 304 || this.#status < 200;
  }

  /**
   * Sends the head with its framing: the given length, else the whole body's length when it is
   * all here (`whole`), else chunked; nothing for answers that never have a body.
   */
  #flushHead(whole: Buffer | undefined): void {
    let head = this.#head!;
    this.#head = undefined;
    if (!this.#hasDate) head += `date: ${httpDate()}\r\n`;
    head += this.#closes ? 'connection: close\r\n' : `connection: keep-alive\r\nkeep-alive: timeout=${this.#keepAliveSeconds}\r\n`;
    const noBody = this.#noBody();
    if (!this.#hasLength && !noBody) {
      if (whole !== undefined) head += `content-length: ${whole.length}\r\n`;
      else {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
    head += '\r\n';
    if (whole === undefined || whole.length === 0 || noBody) this.#socket.write(head, 'latin1');
    else if (whole.length <= joinedWriteMax) this.#socket.write(head + whole.toString('latin1'), 'latin1');
    else {
      this.#socket.cork();
      this.#socket.write(head, 'latin1');
      this.#socket.write(whole);
      this.#socket.uncork();
    }
  }
}
