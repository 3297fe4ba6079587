/** The HTTP edge against real backends on loopback: routing by Host, retries, spreading, errors. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { silentLogger, type ServiceConfig } from '../../src/lib/index.ts';
import { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';

const http80 = (internal_port: number): ServiceConfig[] => [{ protocol: 'tcp', internal_port, ports: [{ port: 80, handlers: ['http'] }] }];

let backends: Server[] = [];
let proxy: EdgeProxy;
let proxyUrl: string;
const routes = new RouteTable();

async function backend(name: string): Promise<number> {
  const server = createServer((req, res) => {
    res.setHeader('x-backend', name);
    res.end(`${name} ${req.method} ${req.url} via=${String(req.headers.via)} xff=${String(req.headers['x-forwarded-for'])}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backends.push(server);
  return (server.address() as AddressInfo).port;
}

async function get(host: string, path = '/'): Promise<{ status: number; body: string; machine?: string; code?: string }> {
  const res = await request(`${proxyUrl}${path}`, { headers: { host } });
  const body = await res.body.text();
  return { status: res.statusCode, body, machine: res.headers['aloft-machine'] as string | undefined, code: res.headers['aloft-proxy-error'] as string | undefined };
}

before(async () => {
  proxy = new EdgeProxy({ routes, domain: 'aloft.localhost', region: 'dev', logger: silentLogger() });
  proxyUrl = await proxy.listen(0, '127.0.0.1');
});

after(async () => {
  await proxy.close();
  for (const b of backends) await new Promise<void>((r) => b.close(() => r()));
  backends = [];
});

describe('edge proxy', () => {
  it('routes by Host to a started machine and adds forwarding headers', async () => {
    const port = await backend('a1');
    routes.upsert({ id: 'm-a1', app: 'alpha', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(port) });
    const r = await get('alpha.aloft.localhost', '/hello?x=1');
    assert.equal(r.status, 200);
    assert.match(r.body, /^a1 GET \/hello\?x=1 via=1\.1 aloft xff=127\.0\.0\.1$/);
    assert.equal(r.machine, 'm-a1');
  });

  it('retries another machine when one refuses the connection', async () => {
    const port = await backend('b1');
    const closed = await backend('gone');
    await new Promise<void>((r) => backends.pop()!.close(() => r())); // nothing listens on `closed` now
    routes.upsert({ id: 'm-dead', app: 'beta', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(closed) });
    routes.upsert({ id: 'm-b1', app: 'beta', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(port) });
    for (let i = 0; i < 10; i++) {
      const r = await get('beta.aloft.localhost');
      assert.equal(r.status, 200, r.body);
      assert.equal(r.machine, 'm-b1');
    }
  });

  it('spreads requests over equal machines', async () => {
    const p1 = await backend('g1');
    const p2 = await backend('g2');
    routes.upsert({ id: 'm-g1', app: 'gamma', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(p1) });
    routes.upsert({ id: 'm-g2', app: 'gamma', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(p2) });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add((await get('gamma.aloft.localhost')).machine!);
    assert.deepEqual([...seen].sort(), ['m-g1', 'm-g2']);
  });

  it('answers 503 when the app has no started machine and 502 when none accepts', async () => {
    const port = await backend('d1');
    routes.upsert({ id: 'm-d1', app: 'delta', state: 'stopped', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(port) });
    const none = await get('delta.aloft.localhost');
    assert.equal(none.status, 503);
    assert.equal(none.code, 'PM');
    assert.match(none.body, /no started machine/);
    const dead = await backend('gone2');
    await new Promise<void>((r) => backends.pop()!.close(() => r()));
    routes.upsert({ id: 'm-e', app: 'epsilon', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services: http80(dead) });
    const refused = await get('epsilon.aloft.localhost');
    assert.equal(refused.status, 502);
    assert.equal(refused.code, 'PC');
  });

  it('answers 404 for a host that names no app', async () => {
    const r = await get('example.com');
    assert.equal(r.status, 404);
    assert.equal(r.code, 'PN');
  });
});
