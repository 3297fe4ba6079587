/**
 * The client side of one HTTP listener: HTTP/1.1 and HTTP/2 on the same port. On plain
 * connections HTTP/2 is recognised by its connection preface (h2c with prior knowledge); on TLS
 * connections by ALPN. Bad clients are bounded here: header size (431), time to send the request
 * head (408), silence before the first byte, malformed requests (400).
 */
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { Duplex as DuplexStream, type Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ProxyLimits } from './limits.ts';
import { Http1Connection, type Http1ConnectionDeps, type Http1Request } from './http1-connection.ts';
import { clientErrorReply, type ClientResponse } from './responses.ts';

export type ClientRequest = IncomingMessage | Http2ServerRequest | Http1Request;

/** The client's end of the connection a request came on. */
export interface ClientSocket {
  remoteAddress?: string | undefined;
}

export interface FrontendHandlers {
  request(req: ClientRequest, res: ClientResponse, client: ClientSocket): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const http2Preface = Buffer.from('PRI * HTTP/2.0\r\n');

export class HttpFrontend {
  readonly #h1: Http1Server;
  readonly #h2: Http2Server;
  readonly #limits: ProxyLimits;
  /** Plain HTTP/1.1 requests are served without node:http; it takes the connection at the first request that is not plain. */
  readonly #fast: Http1ConnectionDeps;
  /** The client socket behind each HTTP/2 session (h2c sessions run over a wrapper that has no address). */
  readonly #origins = new WeakMap<Http2Session, ClientSocket>();
  #handingOver: ClientSocket | undefined;

  constructor(handlers: FrontendHandlers, limits: ProxyLimits) {
    this.#limits = limits;
    this.#h1 = createHttp1Server({
      maxHeaderSize: limits.headerBytesMax,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: 0,
      // The head timeout is only enforced when connections are checked; check often enough that it holds.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.headersTimeoutMs / 4)),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Most requests carry no body: theirs is ended from the start, with no stream events to run.
      optimizeEmptyRequests: true,
    });
    // This server never listens itself (connections are handed to it), but node only tracks
    // connections, and so enforces headersTimeout, once a server has emitted 'listening'.
    this.#h1.emit('listening');
    this.#h1.on('request', (req: IncomingMessage, res: ServerResponse) => handlers.request(req, res, req.socket));
    this.#h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => handlers.upgrade(req, socket, head));
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket));
    this.#fast = {
      limits,
      request: (req, res, socket) => handlers.request(req, res, socket),
      handOff: (socket) => {
        this.#h1.emit('connection', socket);
        socket.resume();
      },
    };
    this.#h2 = createHttp2Server({ maxSessionInvalidFrames: 100, settings: { maxHeaderListSize: limits.headerBytesMax } });
    this.#h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => handlers.request(req, res, this.#origins.get(req.stream.session!) ?? {}));
    // Sessions are created synchronously when a connection is handed over: remember whose it is.
    this.#h2.on('session', (session: Http2Session) => {
      if (this.#handingOver !== undefined) this.#origins.set(session, this.#handingOver);
    });
    this.#h2.on('sessionError', () => undefined);
    this.#h2.setTimeout(65_000);
  }

  /** Takes a plain TCP connection: HTTP/2 if it opens with the HTTP/2 preface, HTTP/1.1 otherwise. */
  acceptPlain(socket: Socket): void {
    const silent = (): void => void socket.destroy();
    socket.setTimeout(this.#limits.firstByteTimeoutMs, silent);
    socket.once('data', (chunk: Buffer) => {
      // Off for good: whoever takes the connection sets its own timeouts, and a left listener would cut them short.
      socket.setTimeout(0, silent);
      socket.pause();
      const h2 = chunk.length >= http2Preface.length ? chunk.subarray(0, http2Preface.length).equals(http2Preface) : http2Preface.subarray(0, chunk.length).equals(chunk);
      if (!h2) {
        // Should node:http take the connection over, it reads the bytes put back on the socket first.
        new Http1Connection(socket, chunk, this.#fast);
        socket.resume();
        return;
      }
      // HTTP/2 reads the socket's handle directly and would miss an unshifted chunk: hand it a
      // stream that replays the chunk and then carries the socket's bytes.
      this.#handingOver = socket;
      this.#h2.emit('connection', replaying(socket, chunk));
      this.#handingOver = undefined;
    });
    socket.on('error', () => socket.destroy());
  }

  /** Takes a TLS connection whose handshake chose `h2` or `http/1.1` (or nothing: HTTP/1.1). */
  acceptTls(socket: TLSSocket): void {
    if (socket.alpnProtocol === 'h2') this.#h2.emit('connection', socket);
    else new Http1Connection(socket, undefined, this.#fast);
  }

  close(): void {
    this.#h1.closeAllConnections();
    this.#h1.close();
    this.#h2.close();
  }
}

/** A duplex that yields `first`, then whatever `socket` reads, and writes to `socket`. */
function replaying(socket: Socket, first: Buffer): Duplex {
  const stream = new DuplexStream({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _encoding, callback) => void socket.write(chunk, callback),
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (err, callback) => {
      socket.destroy();
      callback(err);
    },
  });
  stream.push(first);
  socket.on('data', (c: Buffer) => {
    if (!stream.push(c)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(clientErrorReply(err.code));
}
