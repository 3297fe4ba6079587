/**
 * The proxy feed on real state nodes (two, gossiping on loopback, as hosts ams-1 and ams-2):
 * what the machine rows carry into the route table, which proxy of a region decides autostop,
 * and the activity the proxies share for it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stateRegionActivity } from '../../src/fleet/proxy-activity.ts';
import { ProxyFeed } from '../../src/fleet/proxy-feed.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { RouteTable } from '../../src/proxy/index.ts';
import { openState, type StateHandle } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';

const clusterKey = Buffer.from('5a'.repeat(32), 'hex');
let dir: string;
/** Host ams-1's state node and proxy feed, and host ams-2's. */
let state: StateHandle;
let routes: RouteTable;
let feed: ProxyFeed;
let state2: StateHandle;
let feed2: ProxyFeed;
let stateClosed = false;

/** The row a host's agent publishes for itself. */
function publishHost(on: StateHandle, id: string, region: string): void {
  on.transaction([{ sql: "INSERT INTO hosts (id, region, state, proxy_url, state_node) VALUES (?, ?, 'up', ?, ?)", params: [id, region, `http://127.0.0.1:1/${id}`, on.id] }]);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-proxy-feed-'));
  state = await openState({ dataDir: join(dir, 'state'), clusterKey, log: silentLogger() });
  state2 = await openState({ dataDir: join(dir, 'state2'), clusterKey, seeds: [state.address], log: silentLogger() });
  routes = new RouteTable();
  feed = new ProxyFeed({ state, routes, peers: undefined, selfHostId: 'ams-1', region: 'ams', logger: silentLogger() });
  feed2 = new ProxyFeed({ state: state2, routes: new RouteTable(), peers: undefined, selfHostId: 'ams-2', region: 'ams', logger: silentLogger() });
});

after(async () => {
  feed.close();
  feed2.close();
  if (!stateClosed) await state.close();
  await state2.close();
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

  it("shares every proxy's activity: each writes its own rows, every one reads the latest per machine", async () => {
    const activity1 = stateRegionActivity(state, 'ams-1', () => true);
    const activity2 = stateRegionActivity(state2, 'ams-2', () => false);
    activity1.publish([{ machineId: 'm-a', lastActiveAt: 1_000 }, { machineId: 'm-b', lastActiveAt: 5_000 }], []);
    activity2.publish([{ machineId: 'm-a', lastActiveAt: 3_000 }], []);
    await eventually('both hosts to have both proxies rows', async () => [activity1, activity2].every((a) => a.lastActive().get('m-a') === 3_000 && a.lastActive().get('m-b') === 5_000));
    activity1.publish([], ['m-b']);
    await eventually("the machine ams-1 forgot to leave ams-2's view", async () => !activity2.lastActive().has('m-b'));
    assert.equal(activity2.lastActive().get('m-a'), 3_000);
  });

  it('lets the live host with the lowest id of the region decide autostop, and the next once it is gone', async () => {
    publishHost(state, 'ams-1', 'ams');
    publishHost(state2, 'ams-2', 'ams');
    // A host of another region with a lower id decides for its own region, not this one.
    publishHost(state2, 'aaa-1', 'aaa');
    await eventually('ams-2 to know ams-1 is alive and leads', async () => !feed2.leadsRegion());
    assert.equal(feed.leadsRegion(), true, 'ams-1 leads');
    feed.close();
    stateClosed = true;
    await state.close();
    await eventually('ams-2 to take over once SWIM no longer has ams-1 alive', async () => feed2.leadsRegion(), 20_000);
  });
});
