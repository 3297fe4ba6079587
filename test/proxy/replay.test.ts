/** fly-replay: a machine sends the request (body included) to another machine, app or instance of its organization; loops are stopped. */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { Backends, get, http80, machine, startProxy } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

before(async () => {
  ({ proxy, routes, port } = await startProxy({ limits: { replayBodyBytesMax: 1024 } }));
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
});

/** A backend that records what it received and answers with its name and the body. */
async function echo(name: string, seen: IncomingHttpHeaders[] = []): Promise<number> {
  const b = await backends.start(name, (req, res) => {
    seen.push(req.headers);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => res.end(`${name}:${body}`));
  });
  return b.port;
}

async function replayer(header: string): Promise<number> {
  const b = await backends.start('replayer', (req, res) => {
    req.resume();
    res.setHeader('fly-replay', header);
    res.end('ignored');
  });
  return b.port;
}

describe('fly-replay', () => {
  it('replays to a named instance with the body and a fly-replay-src header', async () => {
    const seen: IncomingHttpHeaders[] = [];
    routes.upsert(machine('m-r1', 'rep', http80(await replayer('instance=m-r2;state=abc'))));
    routes.upsert(machine('m-r2', 'rep', http80(await echo('r2', seen)), { state: 'started' }));
    // m-r1 and m-r2 both serve: only requests that land on m-r1 are replayed, so aim at it.
    const r = await get(port, 'rep.aloft.localhost', '/x', { method: 'POST', body: 'payload', headers: { 'fly-force-instance-id': 'm-r1' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'r2:payload');
    assert.equal(r.headers['aloft-machine'], 'm-r2');
    assert.match(String(seen[0]!['fly-replay-src']), /^instance=m-r1;region=dev;t=\d+;state=abc$/);
  });

  it('replays to another app, and elsewhere=true avoids the machine that asked', async () => {
    routes.upsert(machine('m-other', 'other-app', http80(await echo('other'))));
    routes.upsert(machine('m-to-app', 'to-app', http80(await replayer('app=other-app'))));
    const r = await get(port, 'to-app.aloft.localhost');
    assert.equal(r.body, 'other:');
    assert.equal(r.headers['aloft-machine'], 'm-other');
    routes.upsert(machine('m-e1', 'else', http80(await replayer('elsewhere=true'))));
    routes.upsert(machine('m-e2', 'else', http80(await echo('e2'))));
    const forced = await get(port, 'else.aloft.localhost', '/', { headers: { 'fly-force-instance-id': 'm-e1' } });
    assert.equal(forced.headers['aloft-machine'], 'm-e2', 'sent to m-e1, which replays it elsewhere');
    const seenMachines = new Set<string>();
    for (let i = 0; i < 10; i++) seenMachines.add(String((await get(port, 'else.aloft.localhost')).headers['aloft-machine']));
    assert.deepEqual([...seenMachines], ['m-e2'], 'whichever machine is picked, m-e2 answers');
  });

  it('stops a replay loop', async () => {
    routes.upsert(machine('m-loop', 'loop', http80(await replayer('app=loop'))));
    const r = await get(port, 'loop.aloft.localhost');
    assert.equal(r.status, 502);
    assert.equal(r.headers['aloft-proxy-error'], 'PA');
    assert.match(r.body, /replay loop stopped after 3 replays/);
  });

  it('refuses to replay a body larger than the limit', async () => {
    routes.upsert(machine('m-big', 'big', http80(await replayer('app=other-app'))));
    const r = await get(port, 'big.aloft.localhost', '/', { method: 'POST', body: 'x'.repeat(5000) });
    assert.equal(r.status, 502);
    assert.match(r.body, /too large to replay/);
  });
});

describe('fly-replay across organizations', () => {
  it("refuses a replay to another organization's app with 502 PA, and the target never sees the request", async () => {
    const target = await backends.start('bank');
    routes.upsert(machine('m-bank', 'bank', http80(target.port), { org: 'org-b' }));
    routes.upsert(machine('m-intruder', 'intruder', http80(await replayer('app=bank')), { org: 'org-a' }));
    const r = await get(port, 'intruder.aloft.localhost', '/transfer', { method: 'POST', body: 'all of it' });
    assert.equal(r.status, 502);
    assert.equal(r.headers['aloft-proxy-error'], 'PA');
    assert.ok(r.headers['fly-replay-failed'] !== undefined, 'the origin is told the replay failed');
    assert.match(r.body, /app 'bank', which is not in the same organization as its app 'intruder'/);
    assert.equal(target.hits(), 0, "the other organization's machine got nothing");
  });

  it('refuses a replay to another app from a machine whose organization is unknown', async () => {
    const target = await backends.start('known');
    routes.upsert(machine('m-known', 'known', http80(target.port), { org: 'org-b' }));
    routes.upsert(machine('m-orgless', 'orgless', http80(await replayer('app=known')), { org: '' }));
    const r = await get(port, 'orgless.aloft.localhost');
    assert.equal(r.status, 502);
    assert.equal(r.headers['aloft-proxy-error'], 'PA');
    assert.equal(target.hits(), 0);
  });

  it("replays to an app of the machine's own organization", async () => {
    routes.upsert(machine('m-api', 'api', http80((await backends.start('api')).port), { org: 'org-a' }));
    routes.upsert(machine('m-front', 'front', http80(await replayer('app=api')), { org: 'org-a' }));
    const r = await get(port, 'front.aloft.localhost');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['aloft-machine'], 'm-api');
  });
});
