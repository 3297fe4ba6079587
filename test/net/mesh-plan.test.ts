/** The pure parts of the fleet network: keys, the mesh's peers, the topology plan and the latency matrix. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import {
  defaultLatencyMatrix,
  generateWireguardKeyPair,
  hostSixpnAddress,
  isolationRuleset,
  isWireguardKey,
  machineAddresses,
  meshPeers,
  nearestRegion,
  planTopology,
  regionRttMs,
  wireguardPublicKey,
  type MeshHostRow,
} from '../../src/net/index.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';

const run = promisify(execFile);
const skipWithoutWg = skipUnlessAvailable(
  await run('sh', ['-c', 'command -v wg']).then(
    () => [],
    () => ['wg (Debian wireguard-tools)'],
  ),
);

test('x25519 keys in wg base64; the public key is what `wg pubkey` derives', { skip: skipWithoutWg }, async () => {
  const keys = generateWireguardKeyPair();
  assert.ok(isWireguardKey(keys.privateKey) && isWireguardKey(keys.publicKey));
  assert.notEqual(keys.privateKey, generateWireguardKeyPair().privateKey);
  assert.equal(wireguardPublicKey(keys.privateKey), keys.publicKey);
  const child = execFile('wg', ['pubkey']);
  child.stdin!.end(`${keys.privateKey}\n`);
  const out = await new Promise<string>((resolve) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    child.on('close', () => resolve(text.trim()));
  });
  assert.equal(out, keys.publicKey);
  assert.throws(() => wireguardPublicKey('not-a-key'), /32 bytes in base64/);
});

function host(id: string, hostNum: number): MeshHostRow {
  return { id, publicKey: generateWireguardKeyPair().publicKey, endpoint: `10.0.0.${hostNum}:51820`, sixpnAddress: hostSixpnAddress(hostNum) };
}

test('mesh peers: every other host, with its own /64 and one /64 per organization that has a machine on it', () => {
  const [h1, h2, h3] = [host('h1', 1), host('h2', 2), host('h3', 3)];
  const machines = [machineAddresses(0x2a, 2, 0).ipv6, machineAddresses(0x2a, 2, 5).ipv6, machineAddresses(0x7, 2, 1).ipv6, machineAddresses(0x2a, 1, 0).ipv6, 'not-an-address', '::1'];
  const peers = meshPeers([h3, h1, h2], machines, 'h1');
  assert.deepEqual(
    peers.map((p) => [p.hostId, p.endpoint, p.allowedIps]),
    [
      ['h2', '10.0.0.2:51820', ['fdaa:0:0:2::/64', 'fdaa:0:7:2::/64', 'fdaa:0:2a:2::/64']],
      ['h3', '10.0.0.3:51820', ['fdaa:0:0:3::/64']],
    ],
  );
  assert.deepEqual(
    meshPeers([h1, h2], [], 'h1', (p) => `10.9.9.9:${40000 + Number(p.id.slice(1))}`).map((p) => p.endpoint),
    ['10.9.9.9:40002'],
    'the endpoint can be redirected (to the delay relay)',
  );
});

test('mesh peers: rows without a valid key, endpoint or host address, or repeating a host number or key, are left out', () => {
  const h1 = host('h1', 1);
  const good = host('h2', 2);
  const rows: MeshHostRow[] = [
    h1,
    good,
    { ...host('h3', 3), publicKey: '' },
    { ...host('h4', 4), endpoint: 'nowhere' },
    { ...host('h5', 5), sixpnAddress: machineAddresses(0x2a, 5, 0).ipv6 },
    { ...host('h6', 2) },
    { ...host('h7', 7), publicKey: good.publicKey },
    { ...host('h8', 1) },
  ];
  assert.deepEqual(meshPeers(rows, [], 'h1').map((p) => p.hostId), ['h2']);
});

test('topology plan: addresses per region, relays only across regions at half the RTT, anycast to the nearest edge', () => {
  const plan = planTopology({
    prefix: 'pln',
    hosts: [
      { name: 'a1', region: 'ams' },
      { name: 'i1', region: 'iad' },
      { name: 'a2', region: 'ams', edge: false },
      { name: 's1', region: 'syd' },
    ],
    clients: [
      { name: 'x', region: 'lhr' },
      { name: 'y', region: 'sjc' },
    ],
  });
  assert.deepEqual(
    plan.hosts.map((h) => [h.name, h.hostNum, h.netns, h.underlayAddress, h.gateway, h.wireguardIfname, h.sixpnAddress]),
    [
      ['a1', 1, 'pln-h-a1', '10.123.1.11', '10.123.1.1', 'pln-w1', 'fdaa:0:0:1::1'],
      ['i1', 2, 'pln-h-i1', '10.123.2.11', '10.123.2.1', 'pln-w2', 'fdaa:0:0:2::1'],
      ['a2', 3, 'pln-h-a2', '10.123.1.12', '10.123.1.1', 'pln-w3', 'fdaa:0:0:3::1'],
      ['s1', 4, 'pln-h-s1', '10.123.3.11', '10.123.3.1', 'pln-w4', 'fdaa:0:0:4::1'],
    ],
  );
  assert.deepEqual(
    plan.relayPairs.map((p) => [p.hosts, p.oneWayDelayMs]),
    [
      [['a1', 'i1'], 40],
      [['a1', 's1'], 140],
      [['i1', 'a2'], 40],
      [['i1', 's1'], 100],
      [['a2', 's1'], 140],
    ],
  );
  assert.deepEqual(new Set(plan.relayPairs.map((p) => p.port)).size, 5);
  assert.deepEqual(
    plan.clients.map((c) => [c.name, c.edgeHost, c.address]),
    [
      ['x', 'a1', '10.123.4.101'],
      ['y', 'i1', '10.123.5.101'],
    ],
  );
  assert.throws(() => planTopology({ prefix: 'Bad-Prefix', hosts: [{ name: 'a', region: 'ams' }] }), /prefix/);
  assert.throws(() => planTopology({ prefix: 'toolongpfx', hosts: [{ name: 'a', region: 'ams' }] }), /1–8/);
  assert.throws(() => planTopology({ prefix: 'p', hosts: [{ name: 'a', region: 'ams' }, { name: 'a', region: 'iad' }] }), /unique/);
  assert.throws(() => planTopology({ prefix: 'p', hosts: [{ name: 'a', region: 'ams' }, { name: 'b', region: 'mars' }] }), /no RTT between regions ams and mars/);
});

test('latency matrix: symmetric, complete over its regions, nearest by RTT', () => {
  const regions = ['ams', 'fra', 'lhr', 'iad', 'ord', 'sjc', 'nrt', 'sin', 'syd'];
  for (const a of regions) for (const b of regions) assert.equal(regionRttMs(defaultLatencyMatrix, a, b), regionRttMs(defaultLatencyMatrix, b, a));
  assert.equal(regionRttMs(defaultLatencyMatrix, 'ams', 'iad'), 80);
  assert.equal(regionRttMs(defaultLatencyMatrix, 'syd', 'ams'), 280);
  assert.equal(regionRttMs(defaultLatencyMatrix, 'iad', 'iad'), 1);
  assert.equal(nearestRegion(defaultLatencyMatrix, 'lhr', ['iad', 'ams', 'syd']), 'ams');
  assert.equal(nearestRegion(defaultLatencyMatrix, 'sin', ['iad', 'ams', 'syd']), 'syd');
});

test('isolation rules refuse names and addresses that are not what they claim to be', () => {
  assert.match(isolationRuleset({ infraInterfaces: ['lo', 'ul0'], platformAddresses: ['fdaa::3'] }), /add element inet aloft_6pn platform6 \{ fdaa::3 \}/);
  assert.throws(() => isolationRuleset({ infraInterfaces: ['lo"; flush ruleset'], platformAddresses: [] }), /not an interface name/);
  assert.throws(() => isolationRuleset({ infraInterfaces: ['lo'], platformAddresses: ['10.0.0.1'] }), /not an IPv6 address/);
});
