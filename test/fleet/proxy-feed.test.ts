/** The proxy feed on real state nodes: what the machine rows carry into the route table. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProxyFeed } from '../../src/fleet/proxy-feed.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { RouteTable } from '../../src/proxy/index.ts';
import { openState, type StateHandle } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';

const clusterKey = Buffer.from('5a'.repeat(32), 'hex');
let dir: string;
let state: StateHandle;
let routes: RouteTable;
let feed: ProxyFeed;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-proxy-feed-'));
  state = await openState({ dataDir: join(dir, 'state'), clusterKey, log: silentLogger() });
  routes = new RouteTable();
  feed = new ProxyFeed({ state, routes, peers: undefined, selfHostId: 'ams-1', logger: silentLogger() });
});

after(async () => {
  feed.close();
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

describe('proxy feed', () => {
  it("carries each machine's organization into the route table", async () => {
    state.transaction([{ sql: "INSERT INTO machines (id, app, org, host_id, region, state, local_ip, checks) VALUES ('m-1', 'shop', 'acme', 'ams-1', 'ams', 'started', '127.0.0.1', '[]')" }]);
    const route = await eventually('the machine in the route table', async () => routes.get('m-1'));
    assert.equal(route.org, 'acme');
  });

  it("reads a row with the checks column's default ('{}', not a list) as no checks, and keeps following", async () => {
    state.transaction([{ sql: "INSERT INTO machines (id, app, org, host_id, region, state, local_ip) VALUES ('m-2', 'shop', 'acme', 'ams-1', 'ams', 'started', '127.0.0.1')" }]);
    const route = await eventually('the machine in the route table', async () => routes.get('m-2'));
    assert.deepEqual(route.checks, []);
    state.transaction([{ sql: "UPDATE machines SET state = 'stopped' WHERE id = 'm-2'" }]);
    await eventually('a later change to arrive', async () => routes.get('m-2')?.state === 'stopped');
  });
});
