/** Client connections are bounded per client address and per listener; a refused client is told so, and others are still served. */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { Backends, http80, machine, startProxy } from './helpers.ts';

const backends = new Backends();
const sockets: Socket[] = [];
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

before(async () => {
  ({ proxy, routes, port } = await startProxy({ limits: { clientConnectionsPerIpMax: 3, listenerConnectionsMax: 6 } }));
  const b = await backends.start('capped');
  routes.upsert(machine('m-capped', 'capped', http80(b.port)));
});

after(async () => {
  for (const s of sockets) s.destroy();
  await proxy.close();
  await backends.closeAll();
});

/** An idle connection from `from` (a loopback address), once the proxy has accepted it. */
async function idleFrom(from: string): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  sockets.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** One GET on a fresh connection from `from`: everything the proxy sent before it closed. */
async function getFrom(from: string): Promise<string> {
  const socket = await idleFrom(from);
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve(text));
    socket.write('GET / HTTP/1.1\r\nHost: capped.aloft.localhost\r\nConnection: close\r\n\r\n');
  });
}

describe('connection limits', () => {
  it('refuses a client past its share of connections with 503, while another address is served', async () => {
    for (let i = 0; i < 3; i++) await idleFrom('127.0.0.2');
    const refused = await getFrom('127.0.0.2');
    assert.match(refused, /^HTTP\/1\.1 503 /);
    assert.match(refused, /aloft-proxy-error: PL/);
    assert.match(refused, /too many connections from your address/);
    const served = await getFrom('127.0.0.3');
    assert.match(served, /^HTTP\/1\.1 200 /);
    assert.match(served, /capped GET \//);
  });

  it('frees the share when connections close', async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await eventually('a connection from the address served again', async () => /^HTTP\/1\.1 200 /.test(await getFrom('127.0.0.2')), 5_000);
  });

  it('refuses anyone once the listener holds its maximum', async () => {
    for (const from of ['127.0.0.4', '127.0.0.5', '127.0.0.6']) for (let i = 0; i < 2; i++) await idleFrom(from);
    const refused = await getFrom('127.0.0.7');
    assert.match(refused, /^HTTP\/1\.1 503 /);
    assert.match(refused, /as many connections as it accepts/);
  });
});

describe('a refused connection', () => {
  it('is closed once its linger is over, even while the client keeps sending', async () => {
    // Refused connections are not counted, so one that stayed open would hold a socket past every cap.
    const own = await startProxy({ limits: { clientConnectionsPerIpMax: 1, firstByteTimeoutMs: 300 } });
    const opened: Socket[] = [];
    const open = async (allowHalfOpen: boolean): Promise<Socket> => {
      const socket = connect({ host: '127.0.0.1', port: own.port, localAddress: '127.0.0.8', allowHalfOpen });
      opened.push(socket);
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    let sending: NodeJS.Timeout | undefined;
    try {
      // A head still arriving keeps the first connection counted (its first byte came in time).
      (await open(false)).write('GET / HTTP/1.1\r\n');
      const refused = await open(true);
      let text = '';
      let closed = false;
      refused.on('data', (c: Buffer) => (text += c.toString()));
      refused.once('close', () => (closed = true));
      sending = setInterval(() => refused.write('x'.repeat(64)), 50);
      await eventually('the refused connection to be closed', () => closed, 5_000);
      assert.match(text, /^HTTP\/1\.1 503 /);
    } finally {
      clearInterval(sending);
      for (const s of opened) s.destroy();
      await own.proxy.close();
    }
  });
});
