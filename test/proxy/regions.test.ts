/**
 * Region-aware routing between three proxies on loopback (ams, iad, syd) whose distances come
 * from a fixed RTT matrix: a request is served in the proxy's own region when it can be, else
 * forwarded to the nearest region with a machine, whose proxy delivers it and never forwards it
 * again; a peer that stops answering is routed around; replays cross regions with their body.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { Peers, RouteTable, type EdgeProxy, type MachineRoute } from '../../src/proxy/index.ts';
import { Backends, get, http80, machine, startProxy } from './helpers.ts';

const regions = ['ams', 'iad', 'syd'] as const;
type Region = (typeof regions)[number];
const rttMs: Record<string, number> = { 'ams-iad': 80, 'ams-syd': 250, 'iad-syd': 200 };
const distance = (a: string, b: string): number => rttMs[[a, b].sort().join('-')]!;

const backends = new Backends();
const edges = new Map<Region, { proxy: EdgeProxy; routes: RouteTable; peers: Peers; port: number }>();
const seen: Array<{ machine: string; headers: IncomingHttpHeaders; body: string }> = [];

/** Every proxy's table gets the row, as the state layer would give every host the same rows. */
function everywhere(row: MachineRoute, only?: Region): void {
  for (const [region, e] of edges) if (only === undefined || only === region) e.routes.upsert(row);
}

async function echoMachine(id: string, region: Region): Promise<MachineRoute> {
  const b = await backends.start(id, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ machine: id, headers: req.headers, body });
      if (req.url === '/to-syd' && region !== 'syd') res.setHeader('fly-replay', 'region=syd;state=moved');
      res.end(`${id}:${body}`);
    });
  });
  return machine(id, 'world', http80(b.port), { region, hostId: `${region}-1` });
}

/** host:port of each region's proxy, filled in as they listen. */
const regionAt = new Map<string, Region>();

/** A real connect says whether the peer answers; the matrix says how far away it is. */
function matrixRtt(from: Region): (address: string) => Promise<number | undefined> {
  return (address) =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(address.split(':')[1]) });
      socket.once('connect', () => {
        socket.destroy();
        resolve(distance(from, regionAt.get(address)!));
      });
      socket.once('error', () => resolve(undefined));
    });
}

before(async () => {
  for (const region of regions) {
    const peers = new Peers({ selfHostId: `${region}-1`, pingIntervalMs: 50, timeoutMs: 500, logger: silentLogger(), measureRtt: matrixRtt(region) });
    const routes = new RouteTable();
    const { proxy, port } = await startProxy({ routes, region, peers });
    edges.set(region, { proxy, routes, peers, port });
    regionAt.set(`127.0.0.1:${port}`, region);
  }
  for (const [region, e] of edges) {
    e.peers.set([...edges].filter(([r]) => r !== region).map(([r, o]) => ({ hostId: `${r}-1`, region: r, address: `127.0.0.1:${o.port}` })));
  }
  everywhere(await echoMachine('m-iad', 'iad'));
  everywhere(await echoMachine('m-syd', 'syd'));
  await until('every proxy measured its peers', () => [...edges.values()].every((e) => e.peers.rtts().every((p) => p.rttMs !== undefined)));
});

after(async () => {
  for (const e of edges.values()) await e.proxy.close();
  await backends.closeAll();
});

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const world = (region: Region, path = '/', options: Parameters<typeof get>[3] = {}) => get(edges.get(region)!.port, 'world.aloft.localhost', path, options);

describe('routing between regions', () => {
  it('serves from its own region when a machine is there', async () => {
    const r = await world('syd');
    assert.equal(r.headers['aloft-region'], 'syd');
    assert.equal(r.headers['aloft-machine'], 'm-syd');
  });

  it('forwards to the nearest region with a machine, keeping the client facts, and names who served', async () => {
    seen.length = 0;
    const r = await world('ams', '/', { method: 'POST', body: 'hello' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'm-iad:hello');
    assert.equal(r.headers['aloft-region'], 'iad', 'iad (80 ms) is nearer to ams than syd (250 ms)');
    assert.equal(r.headers['aloft-machine'], 'm-iad');
    const h = seen[0]!.headers;
    assert.equal(h['fly-region'], 'ams', 'the region the client reached');
    assert.equal(h['fly-client-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-for'], '127.0.0.1', 'the peer hop is not added as a client');
    assert.equal(h.via, '1.1 aloft, 1.1 aloft');
  });

  it('goes further when the nearest region has no started machine', async () => {
    const iad = edges.get('iad')!.routes.get('m-iad')!;
    everywhere({ ...iad, state: 'stopped' });
    try {
      const r = await world('ams');
      assert.equal(r.headers['aloft-region'], 'syd');
    } finally {
      everywhere(iad);
    }
  });

  it('a proxy that receives a forwarded request never forwards it again', async () => {
    const iad = edges.get('iad')!.routes.get('m-iad')!;
    // iad knows its machine stopped; ams has not heard yet and still forwards to iad.
    everywhere({ ...iad, state: 'stopped' }, 'iad');
    try {
      const r = await world('ams');
      assert.equal(r.status, 503, r.body);
      assert.equal(r.headers['aloft-proxy-error'], 'PM');
      assert.equal(r.headers['aloft-region'], undefined);
    } finally {
      everywhere(iad, 'iad');
    }
  });

  it('replays across regions with the body (fly-replay region=syd from the iad machine)', async () => {
    seen.length = 0;
    const r = await world('ams', '/to-syd', { method: 'POST', body: 'carried' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'm-syd:carried');
    assert.equal(r.headers['aloft-region'], 'syd');
    const atSyd = seen.find((s) => s.machine === 'm-syd')!;
    assert.match(String(atSyd.headers['fly-replay-src']), /^instance=m-iad;region=iad;t=\d+;state=moved$/);
  });

  it('routes around a peer proxy that stopped answering', async () => {
    const iad = edges.get('iad')!;
    await iad.proxy.close();
    const r = await world('ams');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['aloft-region'], 'syd');
    await until('ams to see iad down', () => edges.get('ams')!.peers.rtts().find((p) => p.region === 'iad')?.rttMs === undefined);
  });
});
