/**
 * The HTTP/1.1 fast path (plain bodiless requests read off the socket, everything else handed to
 * node:http): order, framing and keep-alive as a client sees them on one connection, and heads
 * that are not plain left to node's parser.
 */
import assert from 'node:assert/strict';
import { HTTPParser } from 'http-parser-js';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy } from '../../src/proxy/index.ts';
import { Backends, http80, machine, rawExchange, startProxy } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let port: number;
const host = 'fast.aloft.localhost';

before(async () => {
  const started = await startProxy({ limits: { headersTimeoutMs: 500, keepAliveTimeoutMs: 300 } });
  proxy = started.proxy;
  port = started.port;
  const backend = await backends.start('fast', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/stream') {
        // No length: node sends it chunked, and the proxy must frame it for the client itself.
        res.write('part1 ');
        setTimeout(() => res.end('part2'), 20);
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow'), 700);
        return;
      }
      if (req.url === '/nocontent') {
        res.statusCode = 204;
        res.end();
        return;
      }
      res.end(`${req.method} ${req.url}${body === '' ? '' : ` body=${body}`}`);
    });
  });
  started.routes.upsert(machine('m-fast', 'fast', http80(backend.port)));
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A client connection that reads answers in order, each framed as the proxy framed it. */
class Client {
  readonly socket: Socket;
  readonly answers: Answer[] = [];
  closed = false;
  readonly #parser = new HTTPParser(HTTPParser.RESPONSE);
  #waiters: Array<() => void> = [];
  #current: Answer | undefined;
  /** Methods of the requests sent, in order: a HEAD answer has no body whatever it says. */
  readonly #methods: string[] = [];

  constructor() {
    this.socket = connect({ host: '127.0.0.1', port });
    this.#parser[HTTPParser.kOnHeadersComplete] = (info) => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < info.headers.length; i += 2) headers[info.headers[i]!.toLowerCase()] = info.headers[i + 1]!;
      this.#current = { status: info.statusCode, headers, body: '' };
      return this.#methods[this.answers.length] === 'HEAD';
    };
    this.#parser[HTTPParser.kOnBody] = (chunk) => void (this.#current!.body += chunk.toString());
    this.#parser[HTTPParser.kOnMessageComplete] = () => {
      this.answers.push(this.#current!);
      this.#wake();
    };
    this.socket.on('data', (chunk: Buffer) => {
      const result = this.#parser.execute(chunk);
      if (result instanceof Error) throw result;
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    this.socket.on('error', () => undefined);
  }

  send(method: string, raw: string): void {
    this.expect(method);
    this.socket.write(raw);
  }

  /** Requests written some other way, by method, in order. */
  expect(...methods: string[]): void {
    this.#methods.push(...methods);
  }

  /** Waits until `count` answers have arrived (or the connection closed first). */
  async until(count: number): Promise<Answer[]> {
    while (this.answers.length < count && !this.closed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.answers;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Everything the proxy says to `bytes` until it closes the connection. */
async function said(bytes: string): Promise<string> {
  return (await rawExchange(port, bytes, { keepOpen: true })).text;
}

describe('HTTP/1.1 fast path', () => {
  it('answers pipelined requests in order, hands a request with a body to node:http mid-connection without losing a byte, and closes when asked', async () => {
    const client = new Client();
    const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
    // One write: two plain requests, one with a body (not for the fast path), then one that asks to close.
    client.expect('GET', 'GET', 'POST', 'GET');
    client.socket.write(get('/a') + get('/b') + `POST /c HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\n\r\nhello` + get('/d', 'Connection: close\r\n'));
    const answers = await client.until(4);
    assert.deepEqual(
      answers.map((a) => a.body),
      ['GET /a', 'GET /b', 'POST /c body=hello', 'GET /d'],
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(answers[3]!.headers.connection, 'close');
    await client.until(5);
    assert.ok(client.closed, 'the proxy closed the connection after the answer to Connection: close');
  });

  it('frames each answer for the client: its length when whole, chunks when streamed, none for HEAD and 204, all on one kept-alive connection', async () => {
    const client = new Client();
    const request = (method: string, path: string): void => client.send(method, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    request('GET', '/whole');
    const [whole] = await client.until(1);
    assert.equal(whole!.body, 'GET /whole');
    assert.equal(whole!.headers['content-length'], String('GET /whole'.length));
    assert.ok(whole!.headers.date !== undefined, 'a Date header, as node:http would send');
    assert.equal(whole!.headers['aloft-machine'], 'm-fast');

    request('GET', '/stream');
    const stream = (await client.until(2))[1]!;
    assert.equal(stream.body, 'part1 part2');
    assert.equal(stream.headers['transfer-encoding'], 'chunked');

    request('HEAD', '/whole');
    request('GET', '/nocontent');
    request('GET', '/after');
    const [, , head, noContent, afterwards] = await client.until(5);
    assert.equal(head!.status, 200);
    assert.equal(head!.body, '');
    assert.equal(noContent!.status, 204);
    assert.equal(noContent!.headers['transfer-encoding'], undefined);
    assert.equal(afterwards!.body, 'GET /after', 'the connection carried on after bodiless answers');
    assert.equal(client.closed, false);
    client.socket.destroy();
  });

  it("leaves heads that are not plain to node's parser: a folded header line or a bare line feed is a 400, never served", async () => {
    const backend = await backends.start('count');
    const before = backend.hits();
    const folded = await said(`GET / HTTP/1.1\r\nHost: ${host}\r\nX-Folded: a\r\n b\r\n\r\n`);
    assert.match(folded, /^HTTP\/1\.1 400 /);
    const bareLf = await said(`GET / HTTP/1.1\nHost: ${host}\n\n`);
    assert.match(bareLf, /^HTTP\/1\.1 400 /);
    assert.equal(backend.hits(), before);
  });

  it('answers HTTP/1.0 and a repeated Host as node:http does', async () => {
    const old = await said(`GET /old HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
    assert.match(old, /^HTTP\/1\.1 200 /);
    assert.match(old, /GET \/old$/);
    const twice = await said(`GET /twice HTTP/1.1\r\nHost: ${host}\r\nHost: other.aloft.localhost\r\nConnection: close\r\n\r\n`);
    // node keeps the first Host of a repeated one.
    assert.match(twice, /^HTTP\/1\.1 200 /);
    assert.match(twice, /GET \/twice$/);
  });

  it('answers 408 to a head that stops arriving after a first request was served on the connection', async () => {
    const client = new Client();
    client.send('GET', `GET /first HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await client.until(1);
    const text = await new Promise<string>((resolve) => {
      let seen = '';
      client.socket.removeAllListeners('data');
      client.socket.on('data', (c: Buffer) => (seen += c.toString()));
      client.socket.on('close', () => resolve(seen));
      client.socket.write(`GET /second HTTP/1.1\r\nHost: ${host}\r\n`);
    });
    assert.match(text, /^HTTP\/1\.1 408 /);
  });

  it('closes a connection idle for the keep-alive timeout, but never cuts off an answer slower than it', async () => {
    const client = new Client();
    client.send('GET', `GET /slow HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const [slow] = await client.until(1);
    assert.equal(slow?.body, 'slow');
    const idleFrom = performance.now();
    await client.until(2);
    assert.ok(client.closed);
    const idleMs = performance.now() - idleFrom;
    assert.ok(idleMs >= 250 && idleMs < 5_000, `closed after ${Math.round(idleMs)} ms idle`);
  });

  it('refuses a target that is not a path, and a request without a Host, as node:http does: 400, never forwarded', async () => {
    const backend = await backends.start('targets');
    const before = backend.hits();
    for (const target of ['@evil.example/x', 'evil.example:443', 'a:b']) {
      const text = await said(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 400 /, `target ${target}`);
    }
    assert.match(await said('GET / HTTP/1.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal(backend.hits(), before);
  });

  it('refuses a long header line it cannot read in linear time (no backtracking stall of the event loop)', async () => {
    const line = `X:${' '.repeat(16_000)}\x01`;
    const started = performance.now();
    for (let i = 0; i < 10; i++) assert.match(await said(`GET / HTTP/1.1\r\nHost: ${host}\r\n${line}\r\n\r\n`), /^HTTP\/1\.1 400 /);
    // Quadratic matching took about 240 ms a head here; linear, about 1 ms.
    const ms = performance.now() - started;
    assert.ok(ms < 1_500, `10 refused heads took ${Math.round(ms)} ms`);
  });

  it('lets go of a connection it answered with connection: close, though the client keeps its half open', async () => {
    // allowHalfOpen: the client does not end its side when the proxy ends its own.
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.on('error', () => undefined);
    let text = '';
    const ended = new Promise<void>((resolve) => socket.once('end', resolve));
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.write(`GET /bye HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    await ended;
    assert.match(text, /GET \/bye$/);
    // The client neither ends nor stops writing; the proxy's side must be gone, not waiting for it.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const writer = setInterval(() => socket.write('more bytes\r\n'), 20);
    try {
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the proxy still holds the connection 3 s after closing it')), 3_000))]);
    } finally {
      clearInterval(writer);
      socket.destroy();
    }
  });
});
