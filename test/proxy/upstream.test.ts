/**
 * The proxy's HTTP/1.1 client towards machines: framing of answers (chunked, sized, bodiless,
 * interim, close-delimited), keep-alive reuse, retries on a reused connection the target
 * dropped, request bodies of known and unknown length, and answers it must refuse. The machines
 * are raw TCP servers writing exact bytes, so each framing case is what the wire carries.
 */
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { requestHead } from '../../src/proxy/request-head.ts';
import { eventually } from '../helpers/eventually.ts';
import { Backends, get, http80, machine, startProxy } from './helpers.ts';

interface RawRequest {
  head: string;
  body: Buffer;
}

/** A machine that answers each request on a connection with `answer(request, n, socket)`, n counting requests per connection. */
async function rawMachine(answer: (req: RawRequest, n: number, socket: Socket) => void): Promise<{ port: number; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createNetServer((socket) => {
    connections += 1;
    let buffered = Buffer.alloc(0);
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length);
        buffered = buffered.subarray(end + 4 + length);
        n += 1;
        answer({ head, body }, n, socket);
      }
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, connections: () => connections, server };
}

const servers: Server[] = [];
const backends = new Backends();
let proxy: Awaited<ReturnType<typeof startProxy>>;

/** Routes app `name` to a machine on `port`. */
function route(name: string, port: number): string {
  proxy.routes.upsert(machine(`m-${name}`, name, http80(port)));
  return `${name}.aloft.localhost`;
}

describe('upstream HTTP/1.1', () => {
  before(async () => {
    proxy = await startProxy();
  });
  after(async () => {
    await proxy.proxy.close();
    await backends.closeAll();
    for (const s of servers) s.close();
  });

  test('a chunked answer arrives whole, and the connection carries the next request', async () => {
    const m = await rawMachine((_req, n, socket) => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => socket.write(`1\r\n${n}\r\n0\r\n\r\n`), 20);
    });
    const host = route('chunky', m.port);
    assert.equal((await get(proxy.port, host)).body, 'hello1');
    assert.equal((await get(proxy.port, host)).body, 'hello2');
    assert.equal(m.connections(), 1);
  });

  test('HEAD, 204 and 304 answers end at their head, whatever length they name, and keep the connection', async () => {
    const m = await rawMachine((req, _n, socket) => {
      if (req.head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n');
      else if (req.head.includes(' /none ')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      // A 304 may carry the length of the representation it stands for; it still has no body.
      else socket.write('HTTP/1.1 304 Not Modified\r\netag: "x"\r\ncontent-length: 1234\r\n\r\n');
    });
    const host = route('bodiless', m.port);
    const head = await get(proxy.port, host, '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '12');
    assert.equal((await get(proxy.port, host, '/none')).status, 204);
    assert.equal((await get(proxy.port, host, '/cached')).status, 304);
    assert.equal((await get(proxy.port, host, '/cached')).status, 304);
    assert.equal(m.connections(), 1);
  });

  test('an interim 103 answer is skipped for the final one', async () => {
    const m = await rawMachine((_req, _n, socket) => socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal'));
    const reply = await get(proxy.port, route('hints', m.port));
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'final');
  });

  test('a body delimited by the connection closing arrives whole', async () => {
    const m = await rawMachine((_req, _n, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil ');
      setTimeout(() => socket.end('the end'), 20);
    });
    assert.equal((await get(proxy.port, route('closer', m.port))).body, 'until the end');
  });

  test('an answer that is not HTTP is a 502 naming it, and the machine stays usable', async () => {
    const m = await rawMachine((req, _n, socket) => socket.write(req.head.includes(' /bad ') ? 'SSH-2.0-OpenSSH\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const host = route('garbled', m.port);
    const bad = await get(proxy.port, host, '/bad');
    assert.equal(bad.status, 502);
    assert.match(bad.body, /EBADRESPONSE: the answer is not valid HTTP\/1\.1/, 'the body says what was wrong with the answer');
    assert.equal((await get(proxy.port, host, '/good')).body, 'ok');
  });

  test('an answer head node cannot write to the client is a 502 naming it, and the proxy carries on', async () => {
    // http-parser-js takes any header name without ':' or white space; node refuses to write one that is not a token.
    const m = await rawMachine((req, _n, socket) => socket.write(req.head.includes(' /bad ') ? 'HTTP/1.1 200 OK\r\nx(y): 1\r\ncontent-length: 2\r\n\r\nno' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const host = route('untokened', m.port);
    const bad = await get(proxy.port, host, '/bad');
    assert.equal(bad.status, 502);
    assert.match(bad.body, /cannot relay/);
    assert.equal((await get(proxy.port, host, '/good')).body, 'ok');
  });

  test('an answer framed two ways, or with a length that is not a number, is a 502: its length relayed would let the body smuggle an answer to the client', async () => {
    const smuggled = 'HTTP/1.1 200 OK\r\nx-smuggled: 1\r\ncontent-length: 0\r\n\r\n';
    const m = await rawMachine((req, _n, socket) => {
      if (req.head.includes(' /both ')) socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n${(3 + smuggled.length).toString(16)}\r\nabc${smuggled}\r\n0\r\n\r\n`);
      else if (req.head.includes(' /hex ')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0x2\r\n\r\nok');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const host = route('framed-twice', m.port);
    // One client connection, as a CDN's pooled connection in front of the proxy would be.
    const client = connect(proxy.port, '127.0.0.1');
    let text = '';
    client.on('data', (c: Buffer) => (text += c.toString('latin1')));
    try {
      client.write(`GET /both HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
      await eventually('the answer to /both', () => /EBADRESPONSE|x-smuggled/.test(text), 5_000);
      assert.doesNotMatch(text, /x-smuggled/);
      assert.match(text, /^HTTP\/1\.1 502 /);
    } finally {
      client.destroy();
    }
    const hex = await get(proxy.port, host, '/hex');
    assert.equal(hex.status, 502);
    assert.match(hex.body, /EBADRESPONSE/);
    assert.equal((await get(proxy.port, host, '/good')).body, 'ok');
  });

  test('an answer whose head never ends is cut off at the limit, on a reused connection too', async () => {
    const m = await rawMachine((_req, n, socket) => {
      if (n === 1) return void socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      socket.write('HTTP/1.1 200 OK\r\n');
      // Header lines for as long as the proxy reads them: 40 × 8 KiB, past every limit.
      for (let i = 0; i < 40 && !socket.destroyed; i++) socket.write(`x-${i}: ${'y'.repeat(8 * 1024)}\r\n`);
    });
    const host = route('endless', m.port);
    assert.equal((await get(proxy.port, host)).status, 200);
    // A POST, so the failure is not sent again on a fresh connection.
    const second = await get(proxy.port, host, '/', { method: 'POST', body: 'x' });
    assert.equal(second.status, 502);
    assert.match(second.body, /EBADRESPONSE/);
    assert.equal(m.connections(), 1, 'the second answer came on the reused connection');
  });

  test('a replay answer already whole leaves its connection to the pool', async () => {
    const target = await rawMachine((_req, _n, socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nreplay'));
    route('replayed', target.port);
    const m = await rawMachine((_req, _n, socket) => socket.write('HTTP/1.1 409 Conflict\r\nfly-replay: app=replayed\r\ncontent-length: 4\r\n\r\nelse'));
    const host = route('replayer', m.port);
    assert.equal((await get(proxy.port, host)).body, 'replay');
    assert.equal((await get(proxy.port, host)).body, 'replay');
    assert.equal(m.connections(), 1);
  });

  test('header bytes beyond ASCII pass through unchanged', async () => {
    const value = Buffer.from('attachment; filename="café.txt"', 'utf8');
    const m = await rawMachine((_req, _n, socket) => socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 0\r\ncontent-disposition: '), value, Buffer.from('\r\n\r\n')])));
    const reply = await get(proxy.port, route('accents', m.port));
    assert.equal(Buffer.from(reply.headers['content-disposition'] as string, 'latin1').toString('utf8'), value.toString('utf8'));
  });

  test('a reused connection the machine dropped is retried on a fresh one for GET, never for POST', async () => {
    // Each connection answers its first request and drops the second unanswered, as a machine
    // closing an idle connection at the moment the proxy reuses it would.
    const m = await rawMachine((_req, n, socket) => (n === 1 ? socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfine') : socket.destroy()));
    const host = route('dropper', m.port);
    assert.equal((await get(proxy.port, host)).body, 'fine');
    assert.equal((await get(proxy.port, host)).body, 'fine', 'the GET went again on a new connection');
    assert.equal(m.connections(), 2);
    const post = await get(proxy.port, host, '/', { method: 'POST', body: 'once' });
    assert.equal(post.status, 502, 'a POST the machine may have seen is not sent twice');
    assert.equal(m.connections(), 2);
  });

  test('a streamed body keeps its declared length, and one of unknown length goes chunked', async () => {
    const seen: { length: string | undefined; chunked: boolean; bytes: number }[] = [];
    const b = await backends.start('sink', (req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        seen.push({ length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] === 'chunked', bytes });
        res.end('got it');
      });
    });
    const host = route('uploads', b.port);
    const size = 3 * 1024 * 1024;
    const send = (headers: Record<string, string | number>): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: '/', headers: { host, ...headers }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        for (let sent = 0; sent < size; sent += 64 * 1024) req.write(Buffer.alloc(64 * 1024, 7));
        req.end();
      });
    assert.equal(await send({ 'content-length': size }), 200);
    assert.equal(await send({ 'transfer-encoding': 'chunked' }), 200);
    assert.deepEqual(seen, [
      { length: String(size), chunked: false, bytes: size },
      { length: undefined, chunked: true, bytes: size },
    ]);
  });

  test('a header value or target holding a line break is never written', () => {
    assert.throws(() => requestHead('GET', '/', { 'x-state': 'a\r\nx-evil: 1' }, 'none', 'h:1'), { code: 'EBADREQUEST' });
    assert.throws(() => requestHead('GET', '/ HTTP/1.1\r\nx: y', {}, 'none', 'h:1'), { code: 'EBADREQUEST' });
    assert.equal(requestHead('GET', '/p', { host: 'a', 'transfer-encoding': 'chunked' }, { length: 3 }, 'h:1'), 'GET /p HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n');
  });
});
