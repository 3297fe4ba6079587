/**
 * A fleet host's `.internal` resolver orders answers by the fleet's region distances, as the host
 * composes it (startHost): asked in syd, iad (200 ms) comes before ams (280 ms), which
 * alphabetical order among "other regions" would put first; regions the matrix lacks are as far
 * as the host's proxy measures them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHost, type RunningHost } from '../../src/fleet/host.ts';
import { hostRegionDistance } from '../../src/fleet/region-distance.ts';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { defaultLatencyMatrix, sixpnAddress } from '../../src/net/index.ts';
import { Peers } from '../../src/proxy/index.ts';
import { Keyring, RevocationList } from '../../src/tokens/index.ts';
import { dig, publishMachine } from '../dns/helpers.ts';
import { eventually } from '../helpers/eventually.ts';

/** The organization a loopback asker counts as (the fleet's `personal`). */
const org = 1;
let dir: string;
let host: RunningHost | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-host-dns-'));
  const keyring = new Keyring(systemClock);
  keyring.rotate();
  host = await startHost({
    dataDir: dir,
    hostId: 'syd-1',
    hostNum: 1,
    region: 'syd',
    bindHost: '127.0.0.1',
    internalHost: '127.0.0.1',
    ports: { agent: 0, proxy: 0, gossip: 0 },
    // Nothing is pulled: the machines below are rows of other hosts, gossiped in.
    registry: { url: 'http://127.0.0.1:9' },
    keyring,
    revocations: new RevocationList(),
    secretKeys: [],
    driver: 'process',
    domain: 'aloft.localhost',
    clusterKey: randomBytes(32),
    seeds: [],
    logger: silentLogger(),
    dns: { listen: [{ host: '127.0.0.1', port: 0 }], defaultOrg: org },
  });
});

after(async () => {
  await host?.stop(true);
  await rm(dir, { recursive: true, force: true });
});

test('asked in syd, .internal answers iad (200 ms away) before ams (280 ms), and nearest is iad', async () => {
  const ams = sixpnAddress(org, 2, 1, 2);
  const iad = sixpnAddress(org, 3, 1, 2);
  publishMachine(host!.state, { id: 'webams', app: 'web', region: 'ams', state: 'started', ip: ams });
  publishMachine(host!.state, { id: 'webiad', app: 'web', region: 'iad', state: 'started', ip: iad });
  const server = host!.dnsAddresses[0]!;
  const answers = await eventually('both machines in the answer', async () => {
    const r = await dig(server, 'web.internal', 'AAAA');
    return r.answers.length === 2 ? r.answers.map((a) => a.data) : undefined;
  });
  assert.deepEqual(answers, [iad, ams]);
  assert.deepEqual((await dig(server, 'top1.nearest.of.web.internal', 'AAAA')).answers.map((a) => a.data), [iad]);
});

test('a region the matrix lacks is as far as the proxy measures it; one neither knows comes last', async () => {
  const measured: Record<string, number> = { '127.0.0.1:1': 120, '127.0.0.1:2': 30, '127.0.0.1:3': 45 };
  const peers = new Peers({ selfHostId: 'syd-1', pingIntervalMs: 60_000, timeoutMs: 100, logger: silentLogger(), measureRtt: async (address) => measured[address] });
  peers.set([
    { hostId: 'xyz-1', region: 'xyz', address: '127.0.0.1:1' },
    { hostId: 'xyz-2', region: 'xyz', address: '127.0.0.1:2' },
    { hostId: 'iad-1', region: 'iad', address: '127.0.0.1:3' },
  ]);
  await eventually('every peer measured', () => peers.rtts().every((p) => p.rttMs !== undefined));
  const distance = hostRegionDistance(defaultLatencyMatrix, peers);
  assert.equal(distance('syd', 'xyz'), 30, 'the nearest proxy of the region');
  assert.equal(distance('syd', 'iad'), 200, 'the matrix, where it has the pair');
  assert.equal(distance('syd', 'qqq'), Number.POSITIVE_INFINITY);
});
