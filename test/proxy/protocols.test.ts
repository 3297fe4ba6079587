/** HTTP/2 (h2c and TLS with ALPN), WebSocket upgrades, raw TCP with PROXY protocol, and TLS ports through the TLS hook. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { RouteTable, type EdgeProxy } from '../../src/proxy/index.ts';
import { Backends, http80, machine, startProxy } from './helpers.ts';

const backends = new Backends();
const tcpServers: NetServer[] = [];
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;
let certDir: string;
let cert: Buffer;
let context: SecureContext;

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'aloft-proxy-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=aloft test', '-addext', 'subjectAltName=DNS:*.aloft.localhost', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
  cert = readFileSync(join(certDir, 'cert.pem'));
  context = createSecureContext({ key: readFileSync(join(certDir, 'key.pem')), cert });
  const served: string[] = [];
  ({ proxy, routes, port } = await startProxy({
    tls: {
      SNICallback: (name, cb) => {
        served.push(name);
        if (name.endsWith('.aloft.localhost')) cb(null, context);
        else cb(new Error(`no certificate for ${name}`));
      },
    },
  }));
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
  for (const s of tcpServers) await new Promise<void>((r) => s.close(() => r()));

  rmSync(certDir, { recursive: true, force: true });
});

/** A raw TCP backend that answers each connection with everything it received once that ends with `last`, then closes. */
async function tcpBackend(last: string): Promise<number> {
  const server = createNetServer((socket) => {
    let got = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.toString('latin1').endsWith(last)) socket.end(`got:${got.toString('hex')}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tcpServers.push(server);
  return (server.address() as AddressInfo).port;
}

function tcpExchange(toPort: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: toPort });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write(send);
  });
}

describe('protocols', () => {
  it('serves HTTP/2 with prior knowledge (h2c) on the plain HTTP port', async () => {
    const b = await backends.start('h2', (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end(req.url === '/echo' ? `h2 echo: ${body}` : `h2 ${req.url} via=${String(req.headers.via)}`));
    });
    routes.upsert(machine('m-h2', 'two', http80(b.port)));
    const session = http2Connect(`http://127.0.0.1:${port}`);
    try {
      const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': '/p', ':authority': 'two.aloft.localhost' });
        let body = '';
        let headers: Record<string, unknown> = {};
        stream.on('response', (h) => (headers = h));
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.on('end', () => resolve({ headers, body }));
        stream.on('error', reject);
      });
      assert.equal(headers[':status'], 200);
      assert.equal(headers['aloft-machine'], 'm-h2');
      assert.equal(body, 'h2 /p via=2 aloft');
      const posted = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': 'two.aloft.localhost' });
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString()));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
        stream.end('sent over h2');
      });
      assert.equal(posted, 'h2 echo: sent over h2', 'an HTTP/2 request body reaches the machine');
    } finally {
      session.close();
    }
  });

  it('serves HTTP/2 over TLS by ALPN with the certificate the TLS hook picks, and HTTP/1.1 there too', async () => {
    const b = await backends.start('tls', (req, res) => res.end(`tls proto=${String(req.headers['x-forwarded-proto'])} port=${String(req.headers['x-forwarded-port'])}`));
    routes.upsert(machine('m-tls', 'secure', [{ protocol: 'tcp', internal_port: b.port, ports: [{ port: 443, handlers: ['tls', 'http'] }] }]));
    const tlsPort = await eventuallyBound(443);
    const session = http2Connect(`https://127.0.0.1:${tlsPort}`, { servername: 'secure.aloft.localhost', ca: cert });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/', ':authority': 'secure.aloft.localhost' });
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString()));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      assert.equal(body, 'tls proto=https port=443');
    } finally {
      session.close();
    }
    const h1 = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'secure.aloft.localhost', ca: cert, ALPNProtocols: ['http/1.1'] }, () => {
        socket.write('GET / HTTP/1.1\r\nHost: secure.aloft.localhost\r\nConnection: close\r\n\r\n');
      });
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(h1, /^HTTP\/1\.1 200 /);
    assert.match(h1, /tls proto=https port=443/);
  });

  it('joins a WebSocket upgrade to the machine both ways', async () => {
    const b = await backends.start('ws');
    b.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nx-seen-via: ${String(req.headers.via)}\r\n\r\n`);
      socket.on('data', (c: Buffer) => socket.write(`echo:${c.toString()}`));
      socket.on('end', () => socket.end());
    });
    routes.upsert(machine('m-ws', 'sock', http80(b.port)));
    const { response, socket } = await new Promise<{ response: IncomingMessage; socket: Socket }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, headers: { host: 'sock.aloft.localhost', connection: 'upgrade', upgrade: 'websocket' }, agent: false });
      req.on('upgrade', (res: IncomingMessage, s: Socket) => resolve({ response: res, socket: s }));
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    assert.equal(response.statusCode, 101);
    assert.equal(response.headers['aloft-machine'], 'm-ws');
    assert.equal(response.headers['x-seen-via'], '1.1 aloft');
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (c: Buffer) => resolve(c.toString()));
      socket.write('hello');
    });
    assert.equal(echoed, 'echo:hello');
    socket.destroy();
  });

  it('relays a raw TCP service with a PROXY protocol v1 or v2 header naming the client', async () => {
    const v1Port = await tcpBackend('hi');
    routes.upsert(machine('m-tcp1', 'rawv1', [{ protocol: 'tcp', internal_port: v1Port, ports: [{ port: 15001, handlers: ['proxy_proto'] }] }]));
    const v2Port = await tcpBackend('hi');
    routes.upsert(machine('m-tcp2', 'rawv2', [{ protocol: 'tcp', internal_port: v2Port, ports: [{ port: 15002, handlers: ['proxy_proto'], proxy_proto_options: { version: 'v2' } }] }]));
    const plainPort = await tcpBackend('hi');
    routes.upsert(machine('m-tcp3', 'raw', [{ protocol: 'tcp', internal_port: plainPort, ports: [{ port: 15003, handlers: [] }] }]));

    const v1 = Buffer.from((await tcpExchange(await eventuallyBound(15001), 'hi')).slice(4), 'hex').toString('latin1');
    assert.match(v1, /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nhi/);
    const edgePort = Number(/ (\d+)\r\n/.exec(v1)![1]);
    assert.equal(edgePort, proxy.boundPort(15001), 'the destination is the address the client connected to');

    const v2 = Buffer.from((await tcpExchange(await eventuallyBound(15002), 'hi')).slice(4), 'hex');
    assert.deepEqual([...v2.subarray(0, 12)], [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a], 'v2 signature');
    assert.equal(v2[12], 0x21, 'version 2, PROXY command');
    assert.equal(v2[13], 0x11, 'TCP over IPv4');
    assert.deepEqual([...v2.subarray(16, 20)], [127, 0, 0, 1]);
    assert.equal(v2.subarray(28).toString(), 'hi');

    assert.equal(await tcpExchange(await eventuallyBound(15003), 'hi'), `got:${Buffer.from('hi').toString('hex')}`);
  });

  it('terminates TLS for a TCP service without the http handler and relays the plain bytes', async () => {
    const plain = await tcpBackend('hello');
    routes.upsert(machine('m-tlstcp', 'tlstcp', [{ protocol: 'tcp', internal_port: plain, ports: [{ port: 15443, handlers: ['tls'] }] }]));
    const tlsPort = await eventuallyBound(15443);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'tlstcp.aloft.localhost', ca: cert }, () => socket.write('hello'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(answer, `got:${Buffer.from('hello').toString('hex')}`);
  });

  it('keeps public 443 for TLS when a raw service declared it before the proxy started', async () => {
    const raw443 = await tcpBackend('x');
    const web = await backends.start('web443');
    const seeded = new RouteTable();
    seeded.upsert(machine('m-raw443', 'squat', [{ protocol: 'tcp', internal_port: raw443, ports: [{ port: 443, handlers: [] }] }]));
    const other = await startProxy({ routes: seeded, tls: { SNICallback: (_name, cb) => cb(null, context) } });
    try {
      seeded.upsert(machine('m-web443', 'shop', [{ protocol: 'tcp', internal_port: web.port, ports: [{ port: 443, handlers: ['tls', 'http'] }] }]));
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: other.proxy.boundPort(443)!, servername: 'shop.aloft.localhost', ca: cert, ALPNProtocols: ['http/1.1'] }, () => {
          socket.write('GET / HTTP/1.1\r\nHost: shop.aloft.localhost\r\nConnection: close\r\n\r\n');
        });
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.setTimeout(5_000, () => reject(new Error('no answer over TLS on public port 443')));
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /web443 GET \//);
    } finally {
      await other.proxy.close();
    }
  });
});

/** The proxy opens a listener shortly after a route declares a new public port. */
async function eventuallyBound(publicPort: number): Promise<number> {
  const deadline = performance.now() + 5_000;
  for (;;) {
    const bound = proxy.boundPort(publicPort);
    if (bound !== undefined) return bound;
    if (performance.now() > deadline) throw new Error(`no listener for public port ${publicPort}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
