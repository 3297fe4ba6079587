/** fly-replay `app=` stays inside the replaying machine's organization. */
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

async function replayer(header: string): Promise<number> {
  return (
    await backends.start('replayer', (req, res) => {
      req.resume();
      res.setHeader('fly-replay', header);
      res.end('ignored');
    })
  ).port;
}

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
