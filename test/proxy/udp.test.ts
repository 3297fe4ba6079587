/** UDP services: datagrams relayed both ways per client flow, sticky to a machine, forgotten when idle, bounded, moved off machines that go. */
import assert from 'node:assert/strict';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ServiceConfig } from '../../src/lib/index.ts';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { machine, startProxy } from './helpers.ts';

const sockets: DgramSocket[] = [];
let proxy: EdgeProxy;
let routes: RouteTable;

before(async () => {
  ({ proxy, routes } = await startProxy({ limits: { udpFlowIdleMs: 400, udpFlowsPerListenerMax: 3 } }));
});

afterEach(() => {
  for (const id of routes.apps().flatMap((app) => routes.machines(app).map((m) => m.id))) routes.remove(id);
});

after(async () => {
  await proxy.close();
  for (const s of sockets) s.close();
});

async function bound(socket: DgramSocket): Promise<DgramSocket> {
  sockets.push(socket);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return socket;
}

/** A UDP echo machine: answers `<name> <what it got> from <the sender's port>`. */
async function echo(name: string): Promise<number> {
  const socket = await bound(createSocket('udp4'));
  socket.on('message', (msg, from) => socket.send(`${name} ${msg.toString()} from ${from.port}`, from.port, from.address));
  return socket.address().port;
}

const udpService = (internal_port: number, port: number, extra: Partial<ServiceConfig> = {}): ServiceConfig[] => [{ protocol: 'udp', internal_port, ports: [{ port, handlers: [] }], ...extra }];

/** A client socket; `ask` sends one datagram to public UDP port `publicPort` and resolves with the reply (undefined after `ms`). */
async function client(publicPort: number): Promise<{ ask: (text: string, ms?: number) => Promise<string | undefined> }> {
  const socket = await bound(createSocket('udp4'));
  const port = await eventually(`a UDP listener for ${publicPort}`, () => proxy.boundUdpPort(publicPort));
  return {
    ask: (text, ms = 2_000) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          socket.off('message', onReply);
          resolve(undefined);
        }, ms);
        const onReply = (reply: Buffer): void => {
          clearTimeout(timer);
          socket.off('message', onReply);
          resolve(reply.toString());
        };
        socket.on('message', onReply);
        socket.send(text, port, '127.0.0.1');
      }),
  };
}

describe('UDP services', () => {
  it('relays each client its own replies, one flow per client, sticky to the machine it was given', async () => {
    routes.upsert(machine('m-u1', 'dns', udpService(await echo('u1'), 15353)));
    routes.upsert(machine('m-u2', 'dns', udpService(await echo('u2'), 15353)));
    const a = await client(15353);
    const b = await client(15353);
    const fromA = await a.ask('hello from a');
    const fromB = await b.ask('hello from b');
    assert.match(fromA ?? '', /^u[12] hello from a from \d+$/);
    assert.match(fromB ?? '', /^u[12] hello from b from \d+$/);
    assert.notEqual(fromA!.slice(0, 2), fromB!.slice(0, 2), 'the second flow goes to the less loaded machine');
    const again = await a.ask('again');
    assert.equal(again, fromA!.replace('hello from a', 'again'), 'same machine, same flow socket');
  });

  it('forgets an idle flow, and then gives its slot to another client', async () => {
    routes.upsert(machine('m-one', 'solo', udpService(await echo('one'), 15354, { concurrency: { type: 'connections', soft_limit: 1, hard_limit: 1 } })));
    const a = await client(15354);
    const b = await client(15354);
    const first = await a.ask('1');
    assert.match(first ?? '', /^one 1 from \d+$/);
    assert.equal(await b.ask('waiting', 200), undefined, 'the only machine is at its hard limit with a flow');
    // Once a's flow has been idle for 400 ms it is dropped and b's datagrams get through.
    const now = await eventually('b served after a went idle', () => b.ask('now', 200), 5_000, 100);
    assert.match(now, /^one now from \d+$/);
    const later = await a.ask('2', 200);
    assert.equal(later, undefined, 'a new flow for a waits for the slot b holds');
  });

  it('moves new flows off a machine that goes away', async () => {
    routes.upsert(machine('m-gone', 'moving', udpService(await echo('gone'), 15355)));
    const a = await client(15355);
    assert.match((await a.ask('x')) ?? '', /^gone x/);
    routes.remove('m-gone');
    routes.upsert(machine('m-next', 'moving', udpService(await echo('next'), 15355)));
    assert.match((await a.ask('y')) ?? '', /^next y/);
  });

  it('serves a UDP port to no app when two declare it, and relays at most its flow limit at once', async () => {
    routes.upsert(machine('m-mine', 'mine', udpService(await echo('mine'), 15356)));
    routes.upsert(machine('m-squat', 'aaa', udpService(await echo('squat'), 15356)));
    assert.equal(await (await client(15356)).ask('who', 300), undefined, 'a contested UDP port is served to no one');
    routes.remove('m-squat');
    const clients = await Promise.all(Array.from({ length: 4 }, () => client(15356)));
    const replies = [];
    for (const c of clients) replies.push(await c.ask('hi', 300));
    assert.equal(replies.filter((r) => r !== undefined).length, 3, 'three flows (the limit) are relayed, the fourth client is not');
  });
});
