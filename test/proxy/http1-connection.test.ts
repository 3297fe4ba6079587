/** Http1Connection on real loopback sockets, without the rest of the proxy: its bounds on what a client can make it hold. */
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Http1Connection, type Http1ConnectionDeps } from '../../src/proxy/http1-connection.ts';
import { defaultProxyLimits } from '../../src/proxy/limits.ts';
import { rawExchange } from './helpers.ts';

const answerBytes = Buffer.alloc(64 * 1024, 'a');
let served = 0;
let server: Server;
let port: number;
const sockets = new Set<Socket>();
/** Errors the server's sockets met (a socket torn down by an error would lose what the client sent). */
const socketErrors: Error[] = [];

before(async () => {
  const deps: Http1ConnectionDeps = {
    limits: { ...defaultProxyLimits, headersTimeoutMs: 300 },
    request: (req, res) => {
      served += 1;
      if (req.url === '/bye') {
        // As the proxy's own answers say it: this connection closes after them.
        res.writeHead(200, { connection: 'close' });
        res.end('bye');
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow'), 100);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(answerBytes);
    },
    handOff: (socket) => socket.destroy(),
  };
  // As the proxy's TLS listener hands connections over: nothing read yet, and half-open allowed.
  server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', (err) => socketErrors.push(err));
    new Http1Connection(socket, undefined, deps);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('Http1Connection', () => {
  it('stops reading a client that pipelines requests without reading the answers', async () => {
    served = 0;
    const client = connect({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    client.pause();
    const requests = 2_000;
    client.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(requests)));
    await new Promise((r) => setTimeout(r, 1_000));
    // What the loopback buffers hold (a few MB), not all 2,000 answers (128 MiB) queued in the process.
    assert.ok(served < requests / 2, `${served} of ${requests} requests answered to a client that reads nothing`);
    client.resume();
    let received = 0;
    await new Promise<void>((resolve) => {
      client.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= requests * answerBytes.length) resolve();
      });
    });
    assert.equal(served, requests, 'every request answered once the client reads');
    client.destroy();
  });

  it('answers 408 to a connection that sends no request at all within the head timeout', async () => {
    const started = performance.now();
    const { text } = await rawExchange(port, '', { keepOpen: true });
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(performance.now() - started < 5_000);
  });

  it('gathers a head that arrives a byte at a time in linear time', async () => {
    const client = connect({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('connect', resolve));
    while (sockets.size === 0 || [...sockets].at(-1)!.remotePort !== client.localPort) await new Promise((r) => setImmediate(r));
    const serverSide = [...sockets].at(-1)!;
    // Pieces as small as a network may deliver them, handed to the connection one by one.
    const head = Buffer.from(`GET / HTTP/1.1\r\n${'x\r\n'.repeat(5_000)}`);
    const before = process.cpuUsage();
    for (let i = 0; i < head.length; i++) serverSide.emit('data', head.subarray(i, i + 1));
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000;
    // Copying and searching the whole head again for every byte took about 3 s of CPU here; gathering it once, a few ms.
    assert.ok(ms < 1_000, `${Math.round(ms)} ms of CPU for a ${head.length}-byte head that arrived a byte at a time`);
    client.destroy();
  });

  it('closes, without an error, a half-closed connection whose next pipelined request is not for the fast path', async () => {
    socketErrors.length = 0;
    // The client is done sending after these: the OPTIONS * goes to node:http's side of the path, after the end.
    const { text } = await rawExchange(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200 [^]*slow$/);
    assert.deepEqual(socketErrors.map((e) => (e as NodeJS.ErrnoException).code), []);
  });

  it('closes the connection after an answer whose own headers ask for it, though the client asked to keep it', async () => {
    const { text } = await rawExchange(port, 'GET /bye HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', { keepOpen: true });
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.doesNotMatch(text, /keep-alive: timeout/);
    assert.match(text, /bye$/);
  });
});
