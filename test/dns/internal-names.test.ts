/**
 * `.internal` answers through `dig`, from a DNS server on one state node fed by rows an "agent"
 * writes on another node (so every answer has come through gossip first).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startDnsServer, type DnsServer } from '../../src/dns/index.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { sixpnAddress } from '../../src/net/index.ts';
import { openState, type StateHandle } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { dig, publishMachine, startFakeUpstream, type MachineRow } from './helpers.ts';

const org = 7;
const otherOrg = 8;
const dir = mkdtempSync(join(tmpdir(), 'aloft-dns-names-'));
const clusterKey = Buffer.from('d5'.repeat(32), 'hex');
let agent: StateHandle;
let dnsHost: StateHandle;
let dns: DnsServer;
let server: { host: string; port: number };
let upstream: Awaited<ReturnType<typeof startFakeUpstream>>;

const web = (n: number, region: string, state = 'started'): MachineRow => ({ id: `web${n}`, app: 'web', region, state, ip: sixpnAddress(org, n, 1, 2) });
const machines: MachineRow[] = [
  web(1, 'ams'),
  web(2, 'iad'),
  web(3, 'syd'),
  web(4, 'ams', 'stopped'),
  { id: 'db1', app: 'db', region: 'iad', state: 'started', ip: sixpnAddress(org, 2, 2, 2), processGroup: 'primary' },
  // Another organization's app: never visible to org 7.
  { id: 'secret1', app: 'secret', region: 'ams', state: 'started', ip: sixpnAddress(otherOrg, 1, 3, 2) },
  // A machine without a 6PN address (process driver): nothing to answer with.
  { id: 'bare1', app: 'bare', region: 'ams', state: 'started', ip: '' },
];

before(async () => {
  agent = await openState({ dataDir: join(dir, 'agent'), clusterKey, log: silentLogger() });
  dnsHost = await openState({ dataDir: join(dir, 'dns'), clusterKey, seeds: [agent.address], log: silentLogger() });
  upstream = await startFakeUpstream();
  dns = await startDnsServer({
    state: dnsHost,
    listen: [{ host: '127.0.0.1', port: 0 }, { host: '::1', port: 0 }],
    region: 'ams',
    regionDistance: { ams: { iad: 40, syd: 140 }, iad: { syd: 110 } },
    defaultOrg: org,
    upstream: [{ host: '127.0.0.1', port: upstream.port }],
    logger: silentLogger(),
  });
  server = dns.addresses[0]!;
  for (const m of machines) publishMachine(agent, m);
  await eventually('machines gossiped to the DNS host', async () => (await dig(server, 'db.internal', 'AAAA')).answers.length === 1, 20_000);
});

after(async () => {
  await dns?.close();
  await upstream?.close();
  await dnsHost?.close();
  await agent?.close();
  rmSync(dir, { recursive: true, force: true });
});

const data = (r: Awaited<ReturnType<typeof dig>>): string[] => r.answers.map((a) => a.data);

test('<app>.internal: AAAA of started machines, nearest region first, over UDP and TCP, authoritative with a short TTL', async () => {
  const udp = await dig(server, 'web.internal', 'AAAA');
  assert.equal(udp.status, 'NOERROR');
  assert.deepEqual(data(udp), [sixpnAddress(org, 1, 1, 2), sixpnAddress(org, 2, 1, 2), sixpnAddress(org, 3, 1, 2)]);
  assert.ok(udp.flags.includes('aa'), `flags ${udp.flags.join(' ')}`);
  assert.ok(udp.answers.every((a) => a.ttl > 0 && a.ttl <= 10 && a.type === 'AAAA'));
  const tcp = await dig(server, 'WEB.Internal', 'AAAA', ['+tcp']);
  assert.deepEqual(data(tcp), data(udp));
  assert.deepEqual(data(await dig(server, 'global.web.internal', 'AAAA')), data(udp));
});

test('<region>.<app>.internal, top<N>.nearest.of, <id>.vm and <group>.process names', async () => {
  assert.deepEqual(data(await dig(server, 'iad.web.internal', 'AAAA')), [sixpnAddress(org, 2, 1, 2)]);
  assert.deepEqual(data(await dig(server, 'top1.nearest.of.web.internal', 'AAAA')), [sixpnAddress(org, 1, 1, 2)]);
  assert.deepEqual(data(await dig(server, 'top2.nearest.of.web.internal', 'AAAA')), [sixpnAddress(org, 1, 1, 2), sixpnAddress(org, 2, 1, 2)]);
  assert.deepEqual(data(await dig(server, 'web3.vm.web.internal', 'AAAA')), [sixpnAddress(org, 3, 1, 2)]);
  assert.deepEqual(data(await dig(server, 'primary.process.db.internal', 'AAAA')), [sixpnAddress(org, 2, 2, 2)]);
});

test('TXT _apps, regions.<app>, vms.<app> and _instances in Fly formats', async () => {
  assert.deepEqual(data(await dig(server, '_apps.internal', 'TXT')), ['"db,web"']);
  assert.deepEqual(data(await dig(server, 'regions.web.internal', 'TXT')), ['"ams,iad,syd"']);
  assert.deepEqual(data(await dig(server, 'vms.web.internal', 'TXT')), ['"web1 ams,web2 iad,web3 syd"']);
  assert.deepEqual(data(await dig(server, '_instances.internal', 'TXT')), [
    `"instance=db1 app=db ip=${sixpnAddress(org, 2, 2, 2)} region=iad;instance=web1 app=web ip=${sixpnAddress(org, 1, 1, 2)} region=ams;instance=web2 app=web ip=${sixpnAddress(org, 2, 1, 2)} region=iad;instance=web3 app=web ip=${sixpnAddress(org, 3, 1, 2)} region=syd"`,
  ]);
});

test('NXDOMAIN for names that do not exist, NODATA for names that do; both carry the SOA', async () => {
  for (const name of ['nope.internal', 'web9.vm.web.internal', 'fra.web.internal', 'top0.nearest.of.web.internal', 'a.b.c.web.internal']) {
    const r = await dig(server, name, 'AAAA');
    assert.equal(r.status, 'NXDOMAIN', name);
    assert.deepEqual(r.answers, [], name);
    assert.equal(r.authority[0]?.name, 'internal.', name);
  }
  for (const [name, type] of [['web.internal', 'A'], ['web.internal', 'TXT'], ['_apps.internal', 'AAAA'], ['vm.web.internal', 'AAAA'], ['web4.vm.web.internal', 'AAAA']] as const) {
    const r = await dig(server, name, type);
    assert.equal(r.status, 'NOERROR', `${name} ${type}`);
    assert.deepEqual(r.answers, [], `${name} ${type}`);
    assert.equal(r.authority[0]?.name, 'internal.', `${name} ${type}`);
  }
  const soa = await dig(server, 'internal', 'SOA');
  assert.equal(soa.authority[0]?.type, 'SOA');
});

test("another organization's apps and machines without a 6PN address are invisible", async () => {
  assert.equal((await dig(server, 'secret.internal', 'AAAA')).status, 'NXDOMAIN');
  assert.equal((await dig(server, 'bare.internal', 'AAAA')).status, 'NXDOMAIN');
  assert.ok(!data(await dig(server, '_apps.internal', 'TXT'))[0]!.includes('secret'));
});

test('a machine that stops drops out, and comes back when started', async () => {
  publishMachine(agent, web(3, 'syd', 'stopped'));
  await eventually('web3 gone from web.internal', async () => !data(await dig(server, 'web.internal', 'AAAA')).includes(sixpnAddress(org, 3, 1, 2)), 20_000);
  assert.equal((await dig(server, 'web3.vm.web.internal', 'AAAA')).status, 'NOERROR');
  assert.deepEqual(data(await dig(server, 'regions.web.internal', 'TXT')), ['"ams,iad"']);
  publishMachine(agent, web(3, 'syd'));
  await eventually('web3 back', async () => data(await dig(server, 'web.internal', 'AAAA')).includes(sixpnAddress(org, 3, 1, 2)), 20_000);
  agent.transaction([{ sql: "DELETE FROM machines WHERE id = 'db1'" }]);
  await eventually('db gone once its only machine is deleted', async () => (await dig(server, 'db.internal', 'AAAA')).status === 'NXDOMAIN', 20_000);
});

test('many machines: UDP answers are truncated (TC) and dig gets them all over TCP', async () => {
  for (let n = 1; n <= 60; n += 1) publishMachine(agent, { id: `big${n}`, app: 'big', region: 'ams', state: 'started', ip: sixpnAddress(org, 100, n, 2) });
  await eventually('60 big machines', async () => data(await dig(server, 'big.internal', 'AAAA', ['+tcp'])).length === 60, 20_000);
  const truncated = await dig(server, 'big.internal', 'AAAA', ['+ignore', '+noedns']);
  assert.ok(truncated.flags.includes('tc'), `flags ${truncated.flags.join(' ')}`);
  assert.ok(truncated.answers.length > 0 && truncated.answers.length < 60);
  assert.equal(data(await dig(server, 'big.internal', 'AAAA')).length, 60, 'dig retries over TCP by itself');
  // Longer than one 255-byte character-string: split into several, which clients join.
  const vms = data(await dig(server, 'vms.big.internal', 'TXT', ['+tcp']));
  assert.equal(vms.length, 1);
  assert.ok(vms[0]!.includes('" "'), 'several character-strings');
  const joined = vms[0]!.replaceAll('" "', '').replaceAll('"', '');
  assert.deepEqual(joined.split(','), Array.from({ length: 60 }, (_, i) => `big${i + 1} ams`).sort());
});

test('the same answers on an IPv6 listen address', async () => {
  const v6 = dns.addresses[1]!;
  assert.equal(v6.host, '::1');
  assert.deepEqual(data(await dig(v6, 'web.internal', 'AAAA')), data(await dig(server, 'web.internal', 'AAAA')));
  assert.deepEqual(data(await dig(v6, 'regions.web.internal', 'TXT', ['+tcp'])), data(await dig(server, 'regions.web.internal', 'TXT')));
});

test('names outside .internal go to the upstream resolver', async () => {
  const r = await dig(server, 'example.com', 'A');
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(data(r), ['192.0.2.1']);
  assert.ok(upstream.questions.includes('example.com'));
  assert.deepEqual(data(await dig(server, 'example.com', 'A', ['+tcp'])), ['192.0.2.1']);
});
