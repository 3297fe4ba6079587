/** The HTTP edge against real backends on loopback: routing by Host, headers, retries, spreading, errors. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { Backends, get, http80, machine, startProxy } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

before(async () => {
  ({ proxy, routes, port } = await startProxy());
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
});

describe('edge proxy', () => {
  it('routes by Host to a started machine and adds the edge headers', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const b = await backends.start('a1', (req, res) => {
      seen.push(req.headers);
      res.end(`a1 ${req.url}`);
    });
    routes.upsert(machine('m-a1', 'alpha', http80(b.port)));
    const r = await get(port, 'alpha.aloft.localhost', '/hello?x=1', { headers: { 'fly-client-ip': '6.6.6.6', 'x-forwarded-for': '10.0.0.9' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'a1 /hello?x=1');
    assert.equal(r.headers['aloft-machine'], 'm-a1');
    assert.equal(r.headers['aloft-region'], 'dev');
    const h = seen[0]!;
    assert.equal(h['fly-client-ip'], '127.0.0.1', 'a client cannot choose its own Fly-Client-IP');
    assert.equal(h['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-port'], '80');
    assert.equal(h['fly-forwarded-port'], '80');
    assert.equal(h['fly-region'], 'dev');
    assert.equal(h.via, '1.1 aloft');
    assert.equal(h.host, 'alpha.aloft.localhost');
  });

  it('retries another machine when one refuses the connection, for a POST with a body too', async () => {
    const b = await backends.start('b1', (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end(`b1 got ${body}`));
    });
    routes.upsert(machine('m-dead', 'beta', http80(await backends.deadPort())));
    routes.upsert(machine('m-b1', 'beta', http80(b.port)));
    for (let i = 0; i < 10; i++) {
      const r = await get(port, 'beta.aloft.localhost', '/', { method: 'POST', body: `n=${i}` });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, `b1 got n=${i}`);
      assert.equal(r.headers['aloft-machine'], 'm-b1');
    }
  });

  it('spreads requests over equal machines', async () => {
    const g1 = await backends.start('g1');
    const g2 = await backends.start('g2');
    routes.upsert(machine('m-g1', 'gamma', http80(g1.port)));
    routes.upsert(machine('m-g2', 'gamma', http80(g2.port)));
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(String((await get(port, 'gamma.aloft.localhost')).headers['aloft-machine']));
    assert.deepEqual([...seen].sort(), ['m-g1', 'm-g2']);
  });

  it('answers 503 PM when the app has no started machine and 502 PC when none accepts', async () => {
    const d = await backends.start('d1');
    routes.upsert(machine('m-d1', 'delta', http80(d.port), { state: 'stopped' }));
    const none = await get(port, 'delta.aloft.localhost');
    assert.equal(none.status, 503);
    assert.equal(none.headers['aloft-proxy-error'], 'PM');
    assert.match(none.body, /no started machine/);
    assert.equal(JSON.parse(none.body).hint.includes('aloft machine start'), true);
    routes.upsert(machine('m-e', 'epsilon', http80(await backends.deadPort())));
    const refused = await get(port, 'epsilon.aloft.localhost');
    assert.equal(refused.status, 502);
    assert.equal(refused.headers['aloft-proxy-error'], 'PC');
    assert.match(refused.body, /machine m-e of app 'epsilon' failed: ECONNREFUSED/);
  });

  it('answers 404 PN for a host that names no app, and for a port the app does not serve', async () => {
    const r = await get(port, 'example.com');
    assert.equal(r.status, 404);
    assert.equal(r.headers['aloft-proxy-error'], 'PN');
    const z = await backends.start('z');
    routes.upsert(machine('m-z', 'zeta', [{ protocol: 'tcp', internal_port: z.port, ports: [{ port: 8080, handlers: ['http'] }] }]));
    const wrongPort = await get(port, 'zeta.aloft.localhost');
    assert.equal(wrongPort.status, 404);
    assert.match(wrongPort.body, /serves nothing on port 80/);
  });

  it('redirects to https when the port says force_https', async () => {
    const f = await backends.start('f');
    routes.upsert(machine('m-f', 'forced', [{ protocol: 'tcp', internal_port: f.port, ports: [{ port: 80, handlers: ['http'], force_https: true }] }]));
    const r = await get(port, 'forced.aloft.localhost', '/a?b=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://forced.aloft.localhost/a?b=1');
    assert.equal(f.hits(), 0);
  });

  it('retries a GET on another machine when one resets the connection, but not a POST', async () => {
    const reset = await backends.start('reset', (req) => req.socket.destroy());
    const good = await backends.start('good');
    routes.upsert(machine('m-reset', 'eta', http80(reset.port)));
    routes.upsert(machine('m-good', 'eta', http80(good.port)));
    for (let i = 0; i < 6; i++) {
      const r = await get(port, 'eta.aloft.localhost');
      assert.equal(r.status, 200);
      assert.equal(r.headers['aloft-machine'], 'm-good');
    }
    routes.remove('m-good');
    const hitsBefore = reset.hits();
    const post = await get(port, 'eta.aloft.localhost', '/', { method: 'POST', body: 'x' });
    assert.equal(post.status, 502);
    assert.equal(post.headers['aloft-proxy-error'], 'PU');
    assert.equal(reset.hits() - hitsBefore, 1, 'a POST the machine may have acted on is not sent twice');
  });
});
