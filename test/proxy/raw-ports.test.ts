/** Raw TCP ports on the shared address: served to their one owner only, and listeners follow what their port is declared as. */
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { Backends, get, machine, startProxy } from './helpers.ts';

const backends = new Backends();
const tcpServers: NetServer[] = [];
let proxy: EdgeProxy;
let routes: RouteTable;

before(async () => {
  ({ proxy, routes } = await startProxy());
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
  for (const s of tcpServers) await new Promise<void>((r) => s.close(() => r()));
});

/** A raw TCP backend that greets each connection with `name` and closes. */
async function greeter(name: string): Promise<number> {
  const server = createNetServer((socket) => socket.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  tcpServers.push(server);
  return (server.address() as AddressInfo).port;
}

/** Everything the proxy sends on a new connection to `publicPort` before it closes. */
async function greeting(publicPort: number): Promise<string> {
  const port = await eventually(`a listener for ${publicPort}`, () => proxy.boundPort(publicPort));
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
}

const raw = (internal_port: number, port: number) => [{ protocol: 'tcp' as const, internal_port, ports: [{ port, handlers: [] }] }];

describe('raw TCP ports', () => {
  it('serves a raw port that two apps declare to neither (not to the first by name), then to the one left', async () => {
    routes.upsert(machine('m-victim', 'zzz-db', raw(await greeter('victim'), 15701)));
    assert.equal(await greeting(15701), 'victim');
    routes.upsert(machine('m-squatter', 'aaa', raw(await greeter('squatter'), 15701)));
    assert.equal(await greeting(15701), '', 'a contested raw port is served to no one');
    routes.remove('m-victim');
    assert.equal(await greeting(15701), 'squatter', 'the one app left declaring it is served');
  });

  it('reopens a listener as HTTP when its port stops being raw and an app serves HTTP on it', async () => {
    routes.upsert(machine('m-raw', 'rawapp', raw(await greeter('raw'), 15702)));
    assert.equal(await greeting(15702), 'raw');
    routes.remove('m-raw');
    const web = await backends.start('web');
    routes.upsert(machine('m-web', 'webapp', [{ protocol: 'tcp', internal_port: web.port, ports: [{ port: 15702, handlers: ['http'] }] }]));
    const reply = await eventually('HTTP served on the reopened port', async () => {
      const r = await get(proxy.boundPort(15702)!, 'webapp.aloft.localhost').catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 5_000);
    assert.equal(reply.body, 'web GET /');
  });
});
