/**
 * The simulated multi-region network with real packets (root only): wireguard-go tunnels
 * between host namespaces through the delay relay, peers fed by the state layer, org isolation
 * by nftables, anycast to the nearest edge, and a teardown that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { randomHex } from '../../src/lib/ids.ts';
import { silentLogger } from '../../src/lib/log.ts';
import {
  createTopology,
  destroyTopology,
  generateWireguardKeyPair,
  hostCommand,
  hostWireguardOptions,
  installIsolation,
  meshFromState,
  topologyEndpointResolver,
  topologyPrerequisites,
  uapiGet,
  WireguardDevice,
  type Mesh,
  type MachineNetwork,
  type Topology,
} from '../../src/net/index.ts';
import { uapiSet } from '../../src/net/uapi.ts';
import { wireguardKeyHex } from '../../src/net/wireguard-keys.ts';
import { openState, type StateHandle } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';
import { isRelayRunning } from './relay-process.ts';

const run = promisify(execFile);
const skip = skipUnlessAvailable(await topologyPrerequisites());
const prefix = `n${randomHex(3)}`;
const orgA = 0x2a;
const orgB = 0x2b;
const attachScript = fileURLToPath(new URL('./attach-in-namespace.ts', import.meta.url));

let dir: string;
let topo: Topology;
const states: StateHandle[] = [];
const meshes: Mesh[] = [];
const devices: WireguardDevice[] = [];
const servers: ChildProcess[] = [];
/** Machines by name: `A@a1` is org A's machine on host a1. */
const machines = new Map<string, MachineNetwork>();

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), 'aloft-fleet-net-'));
  topo = await createTopology({
    prefix,
    hosts: [
      { name: 'a1', region: 'ams' },
      { name: 'a2', region: 'ams', edge: false },
      { name: 'i1', region: 'iad' },
      { name: 's1', region: 'syd' },
    ],
    clients: [
      { name: 'ca', region: 'ams' },
      { name: 'cs', region: 'syd' },
      { name: 'cl', region: 'lhr' },
    ],
    rootLink: true,
    underlayOctet: 200 + Math.floor(Math.random() * 50),
  });
  const clusterKey = randomBytes(32);
  for (const host of topo.hosts) {
    const state = await openState({ dataDir: join(dir, 'state', host.name), clusterKey, seeds: states.map((s) => s.address), log: silentLogger() });
    states.push(state);
    const keys = generateWireguardKeyPair();
    devices.push(await WireguardDevice.start(hostWireguardOptions(host, keys.privateKey)));
    meshes.push(
      await meshFromState(state, {
        hostId: host.name,
        ifname: host.wireguardIfname,
        publicKey: keys.publicKey,
        endpoint: host.wireguardEndpoint,
        sixpnAddress: host.sixpnAddress,
        peerEndpoint: topologyEndpointResolver(topo.plan, host.name),
      }),
    );
  }
  await attach('a1', [['A', orgA], ['B', orgB]]);
  await attach('a2', [['A', orgA]]);
  await attach('i1', [['A', orgA], ['B', orgB]]);
  await attach('s1', [['A', orgA]]);
});

after(async () => {
  if (skip !== false) return;
  for (const m of meshes) m.close();
  for (const s of states) await s.close();
  await destroyTopology(prefix);
  await rm(dir, { recursive: true, force: true });
});

/** Attaches machines from inside the host's namespace, as its agent would, and writes their rows to its state node. */
async function attach(hostName: string, list: [string, number][]): Promise<void> {
  const host = topo.host(hostName);
  const ids = list.map(([org]) => `${org.toLowerCase()}${hostName}${randomHex(2)}`);
  const argv = hostCommand(host, [process.execPath, attachScript, join(dir, hostName), host.machinePrefix, String(host.hostNum), ...ids.map((id, i) => `${id}:${list[i]![1]}`)]);
  const { stdout } = await run(argv[0]!, argv.slice(1));
  const nets = JSON.parse(stdout) as MachineNetwork[];
  const state = states[topo.hosts.indexOf(host)]!;
  state.transaction(
    nets.map((n, i) => ({
      sql: 'INSERT INTO machines (id, app, org, host_id, region, state, private_ip) VALUES (?, ?, ?, ?, ?, ?, ?)',
      params: [ids[i], `app${list[i]![0]}`, list[i]![0], hostName, host.region, 'started', n.ipv6],
    })),
  );
  list.forEach(([org], i) => machines.set(`${org}@${hostName}`, nets[i]!));
}

function machine(name: string): MachineNetwork {
  const m = machines.get(name);
  assert.ok(m, `no machine ${name}`);
  return m;
}

/** Per-reply RTTs (ms) of `count` pings from inside `netns`; rejects if none came back. */
async function ping(netns: string, address: string, count = 1, waitSec = 2): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, 'busybox', 'ping', '-c', String(count), '-i', '0.3', '-W', String(waitSec), address]);
  return [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/** True when no reply comes within a second (well above the largest RTT in the matrix). */
async function pingFails(netns: string, address: string): Promise<boolean> {
  return ping(netns, address, 1, 1).then(
    () => false,
    () => true,
  );
}

/** A TCP server inside `netns` answering `reply` (or the output of `program`) to every connection. */
function serve(netns: string, port: number, reply: string, program: string[] = ['busybox', 'echo', reply]): void {
  servers.push(spawn('ip', ['netns', 'exec', netns, 'busybox', 'nc', '-ll', '-p', String(port), '-e', ...program], { stdio: 'ignore' }));
}

/** What a TCP connection from `netns` to address:port reads, or the error. */
async function connect(netns: string, address: string, port: number): Promise<string> {
  return run('ip', ['netns', 'exec', netns, 'busybox', 'nc', '-w', '3', address, String(port)]).then(
    (r) => r.stdout.trim(),
    (err: { stderr?: string }) => `error: ${err.stderr?.trim() ?? 'failed'}`,
  );
}

/** The fastest of a series of pings: load on this shared computer only ever adds to the others. */
function fastest(values: number[]): number {
  return Math.min(...values);
}

/**
 * Whether an RTT over the relay is the matrix's: never below it (the relay holds each datagram
 * half of it each way), and above it by no more than a loaded computer adds to its fastest ping.
 */
function matchesMatrix(measuredMs: number, matrixMs: number): boolean {
  return measuredMs >= matrixMs * 0.95 && measuredMs <= matrixMs * 1.25;
}

test('keys and endpoints spread through the state layer: every host gets every other as a peer with its orgs prefixes', { skip, timeout: 30_000 }, async () => {
  await eventually(
    'every mesh to have its three peers with their machines prefixes',
    () => meshes.every((m) => m.peers().length === 3 && m.peers().reduce((n, p) => n + p.allowedIps.length, 0) >= 7),
    15_000,
  );
  const a1 = topo.host('a1');
  const peerOfA1 = meshes[1]!.peers().find((p) => p.hostId === 'a1')!;
  assert.deepEqual(peerOfA1.allowedIps, ['fdaa:0:0:1::/64', 'fdaa:0:2a:1::/64', 'fdaa:0:2b:1::/64']);
  assert.equal(peerOfA1.endpoint, a1.wireguardEndpoint, 'same region: direct');
  const fromS1 = meshes[3]!.peers().find((p) => p.hostId === 'a1')!;
  assert.equal(fromS1.endpoint, topo.peerEndpoint('s1', 'a1'));
  assert.notEqual(fromS1.endpoint, a1.wireguardEndpoint, 'across regions: through the relay');
  const status = await uapiGet(topo.host('s1').wireguardIfname);
  assert.deepEqual(status.peers.find((p) => p.publicKey === fromS1.publicKey)?.allowedIps.sort(), fromS1.allowedIps);
});

test('6PN crosses hosts and regions over wireguard-go, and the RTT across regions is the matrix', { skip, timeout: 60_000 }, async (t) => {
  const fromA1 = machine('A@a1');
  // The first packets also wait for the handshake (and for gossip, on a slow machine).
  for (const target of ['A@a2', 'A@i1', 'A@s1']) await eventually(`A@a1 to reach ${target}`, () => ping(fromA1.netnsName, machine(target).ipv6).then((r) => r.length === 1), 15_000, 200);
  await eventually('host a1 to reach host s1 over 6PN', () => ping(topo.host('a1').netns, topo.host('s1').sixpnAddress).then((r) => r.length === 1), 15_000, 200);

  const expected = [
    ['A@a2', topo.latency.sameRegionRttMs],
    ['A@i1', 80],
    ['A@s1', 280],
  ] as const;
  const series = await Promise.all(expected.map(([target]) => ping(fromA1.netnsName, machine(target).ipv6, 7)));
  for (const [i, [target, rttMs]] of expected.entries()) {
    const times = series[i]!;
    const measured = fastest(times);
    t.diagnostic(`A@a1 → ${target}: fastest RTT ${measured} ms (matrix ${rttMs} ms)`);
    if (rttMs < 10) assert.ok(measured < 20, `same region RTT ${measured} ms (${times.join(', ')})`);
    else assert.ok(matchesMatrix(measured, rttMs), `A@a1 → ${target}: fastest RTT ${measured} ms, matrix ${rttMs} ms (${times.join(', ')})`);
  }
  // Full-size segments too: the tunnel's smaller MTU is learned (ICMPv6 "packet too big" from the host).
  serve(machine('A@i1').netnsName, 7001, '', ['busybox', 'head', '-c', '2000000', '/dev/zero']);
  const received = await eventually(
    '2 MB over TCP from A@i1 to A@a1',
    async () => {
      const { stdout } = await run('ip', ['netns', 'exec', fromA1.netnsName, 'sh', '-c', `busybox nc -w 10 ${machine('A@i1').ipv6} 7001 | busybox wc -c`]);
      return Number(stdout.trim()) > 0 ? Number(stdout.trim()) : undefined;
    },
    20_000,
    200,
  );
  assert.equal(received, 2_000_000);
  // Between the other pair of regions too, from the other side.
  const times = await ping(machine('A@i1').netnsName, machine('A@s1').ipv6, 7);
  t.diagnostic(`A@i1 → A@s1: fastest RTT ${fastest(times)} ms (matrix 200 ms)`);
  assert.ok(matchesMatrix(fastest(times), 200), `iad → syd fastest RTT ${fastest(times)} ms, matrix 200 ms (${times.join(', ')})`);
});

test('isolation: org A and org B cannot reach each other either way (ping and TCP), org A reaches itself on every host and the DNS address', { skip, timeout: 60_000 }, async () => {
  for (const name of ['A@i1', 'B@i1', 'A@a1', 'B@a1', 'A@s1']) serve(machine(name).netnsName, 7000, name);
  await eventually('the servers to listen', async () => (await connect(machine('A@a1').netnsName, machine('A@i1').ipv6, 7000)) === 'A@i1', 10_000, 200);
  const A = machine('A@a1');
  const B = machine('B@i1');
  const Bsame = machine('B@a1');
  // Every server listens, as its own org can see: so a refusal below is the rules, not a missing server.
  assert.equal(await connect(A.netnsName, machine('A@s1').ipv6, 7000), 'A@s1');
  assert.equal(await connect(machine('A@s1').netnsName, A.ipv6, 7000), 'A@a1');
  assert.equal(await connect(Bsame.netnsName, B.ipv6, 7000), 'B@i1');
  assert.equal(await connect(B.netnsName, Bsame.ipv6, 7000), 'B@a1');
  assert.equal((await ping(Bsame.netnsName, B.ipv6)).length, 1);

  const refused = await Promise.all([
    // The other org across hosts, both ways.
    pingFails(A.netnsName, B.ipv6),
    pingFails(B.netnsName, A.ipv6),
    connect(A.netnsName, B.ipv6, 7000).then((r) => r.startsWith('error')),
    connect(B.netnsName, A.ipv6, 7000).then((r) => r.startsWith('error')),
    // The other org on the same host, by 6PN and by its host-local IPv4, both ways.
    pingFails(A.netnsName, Bsame.ipv6),
    pingFails(Bsame.netnsName, A.ipv6),
    connect(A.netnsName, Bsame.ipv6, 7000).then((r) => r.startsWith('error')),
    connect(A.netnsName, Bsame.ipv4, 7000).then((r) => r.startsWith('error')),
    connect(Bsame.netnsName, A.ipv4, 7000).then((r) => r.startsWith('error')),
    // B's link address on the host, and other hosts' own addresses, are not A's either.
    pingFails(A.netnsName, Bsame.hostIpv6),
    pingFails(A.netnsName, topo.host('i1').sixpnAddress),
  ]);
  assert.deepEqual(refused, refused.map(() => true));
  // What the platform serves every machine: DNS at fdaa::3 on its own host, and its gateway.
  assert.equal((await ping(A.netnsName, 'fdaa::3')).length, 1);
  assert.equal((await ping(A.netnsName, A.hostIpv4)).length, 1);
});

test('a machine cannot speak with another org\'s 6PN source address', { skip, timeout: 30_000 }, async () => {
  const A = machine('A@a1');
  const Bsame = machine('B@a1');
  const port = 9953;
  // A listener at the host's platform address, as the DNS server is, printing what reaches it.
  const listener = spawn('ip', ['netns', 'exec', topo.host('a1').netns, process.execPath, '-e',
    `const s = require('node:dgram').createSocket('udp6'); s.on('message', (m) => console.log(m.toString())); s.bind(${port}, 'fdaa::3', () => console.log('ready'));`]);
  let heard = '';
  listener.stdout.on('data', (chunk: Buffer) => (heard += chunk.toString()));
  // An address inside org B's /48, put on org A's machine by its own root user.
  const spoofed = Bsame.ipv6.replace(/::2$/, '::99');
  await run('ip', ['-n', A.netnsName, 'addr', 'add', `${spoofed}/128`, 'dev', 'eth0', 'nodad']);
  const send = (from: string, text: string) =>
    run('ip', ['netns', 'exec', A.netnsName, process.execPath, '-e',
      `const s = require('node:dgram').createSocket('udp6'); s.bind(0, '${from}', () => s.send('${text}', ${port}, 'fdaa::3', () => s.close()));`]);
  try {
    await eventually('the listener to bind', () => heard.includes('ready'), 10_000, 50);
    await send(A.ipv6, 'from-own-address');
    await eventually('a datagram from its own address to arrive', () => heard.includes('from-own-address'), 5_000, 50);
    await send(spoofed, 'from-spoofed-address');
    await send(A.ipv6, 'after');
    await eventually('the later datagram to arrive', () => heard.includes('after'), 5_000, 50);
    assert.ok(!heard.includes('from-spoofed-address'), 'a datagram posing as org B never reaches the host');
  } finally {
    listener.kill();
    await run('ip', ['-n', A.netnsName, 'addr', 'del', `${spoofed}/128`, 'dev', 'eth0']);
  }
});

test('isolation fails closed for a link nobody enrolled, and re-installing the rules keeps enrolled machines', { skip, timeout: 30_000 }, async () => {
  const a1 = topo.host('a1');
  const rogue = `${a1.machinePrefix}-rogue`;
  await run('ip', ['netns', 'add', rogue]);
  await run('ip', ['-n', a1.netns, 'link', 'add', 'vrogue', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', rogue]);
  // Org A's addresses and, outside 6PN and the machine pool, an IPv4 link to prove the link itself works.
  const hostSide = ['addr add fdaa:0:2a:1:3fff::1/80 dev vrogue nodad', 'addr add 192.168.77.1/30 dev vrogue', 'link set vrogue up'];
  const inside = ['link set lo up', 'addr add fdaa:0:2a:1:3fff::2/80 dev eth0 nodad', 'addr add 192.168.77.2/30 dev eth0', 'link set eth0 up', 'route add ::/0 via fdaa:0:2a:1:3fff::1 dev eth0'];
  for (const [ns, commands] of [[a1.netns, hostSide], [rogue, inside]] as const) for (const c of commands) await run('ip', ['-n', ns, ...c.split(' ')]);
  assert.equal((await ping(rogue, '192.168.77.1')).length, 1, 'the link itself works');
  // No 6PN address at all: not even its own gateway, nor its would-be org on this or another host.
  assert.deepEqual(await Promise.all(['fdaa:0:2a:1:3fff::1', machine('A@a1').ipv6, machine('A@i1').ipv6].map((a) => pingFails(rogue, a))), [true, true, true]);

  await installIsolation(a1.netns, { infraInterfaces: ['lo', 'ul0', a1.wireguardIfname], platformAddresses: ['fdaa::3'] });
  assert.equal((await ping(machine('A@a1').netnsName, machine('A@i1').ipv6)).length, 1);
  assert.ok(await pingFails(machine('A@a1').netnsName, machine('B@i1').ipv6));
});

test('anycast: every edge answers on one address and each client reaches its nearest edge', { skip, timeout: 30_000 }, async () => {
  for (const host of topo.hosts.filter((h) => h.edge)) serve(host.netns, 9000, host.name);
  const reached = async (client: string): Promise<string> => connect(topo.clients.find((c) => c.name === client)!.netns, topo.anycastAddress, 9000);
  await eventually('the edge servers to listen', async () => (await reached('ca')) === 'a1', 10_000, 200);
  assert.equal(await reached('cs'), 's1');
  assert.equal(await reached('cl'), 'a1', 'lhr has no edge; ams is nearest');
  // This namespace reaches the fleet over the root link: an edge through the anycast address, a host by its underlay address.
  assert.equal(await run('busybox', ['nc', '-w', '3', topo.anycastAddress, '9000']).then((r) => r.stdout.trim()), 'a1');
  assert.equal((await run('busybox', ['ping', '-c', '1', '-W', '2', topo.host('s1').underlayAddress])).stdout.includes('1 packets received'), true);
  assert.deepEqual(
    topo.clients.map((c) => [c.name, c.edgeHost]),
    [['ca', 'a1'], ['cs', 's1'], ['cl', 'a1']],
  );
});

test('a host cut off the network is unreachable over 6PN until it is reconnected', { skip, timeout: 30_000 }, async () => {
  const from = machine('A@a1').netnsName;
  await topo.setHostConnected('s1', false);
  assert.ok(await pingFails(from, machine('A@s1').ipv6));
  await topo.setHostConnected('s1', true);
  await eventually('A@s1 to answer again', () => ping(from, machine('A@s1').ipv6).then((r) => r.length === 1), 15_000, 200);
});

test('when the last machine of an org leaves a host, its prefix leaves that host\'s peers everywhere', { skip, timeout: 30_000 }, async () => {
  const i1 = topo.hosts.findIndex((h) => h.name === 'i1');
  states[i1]!.transaction([{ sql: 'DELETE FROM machines WHERE private_ip = ?', params: [machine('B@i1').ipv6] }]);
  const prefixesOfI1 = (mesh: Mesh): string[] | undefined => mesh.peers().find((p) => p.hostId === 'i1')?.allowedIps;
  await eventually('every other host to drop fdaa:0:2b:3::/64', () => meshes.every((m, n) => n === i1 || prefixesOfI1(m)?.join() === 'fdaa:0:0:3::/64,fdaa:0:2a:3::/64'), 15_000);
  const status = await uapiGet(topo.host('a1').wireguardIfname);
  assert.deepEqual(status.peers.find((p) => p.allowedIps.includes('fdaa:0:0:3::/64'))?.allowedIps.sort(), ['fdaa:0:0:3::/64', 'fdaa:0:2a:3::/64']);
  assert.ok(await pingFails(machine('B@a1').netnsName, machine('B@i1').ipv6), 'org B on i1 is no longer routed');
});

test('a peer lost behind the mesh\'s back (a restarted daemon) is written again', { skip, timeout: 30_000 }, async () => {
  const a1 = topo.host('a1');
  const s1Key = meshes[0]!.peers().find((p) => p.hostId === 's1')!.publicKey;
  await uapiSet(a1.wireguardIfname, [`public_key=${wireguardKeyHex(s1Key)}`, 'remove=true']);
  assert.equal((await uapiGet(a1.wireguardIfname)).peers.some((p) => p.publicKey === s1Key), false);
  await eventually('the mesh to restore s1 on a1', async () => (await uapiGet(a1.wireguardIfname)).peers.some((p) => p.publicKey === s1Key), 15_000, 200);
  await eventually('A@a1 to reach A@s1 again', () => ping(machine('A@a1').netnsName, machine('A@s1').ipv6).then((r) => r.length === 1), 15_000, 200);
});

test('detaching a machine takes its link out of the isolation sets', { skip, timeout: 30_000 }, async () => {
  const a2 = topo.host('a2');
  const gone = machine('A@a2');
  const id = gone.netnsName.slice(`${a2.machinePrefix}-`.length);
  const argv = hostCommand(a2, [process.execPath, attachScript, join(dir, 'a2'), a2.machinePrefix, String(a2.hostNum), '--detach', id]);
  const setsOf = async (): Promise<string> => (await run('ip', ['netns', 'exec', a2.netns, 'nft', 'list', 'table', 'inet', 'aloft_6pn'])).stdout;
  assert.match(await setsOf(), new RegExp(`"${gone.hostVeth}" \\. fdaa:0:2a::/48`));
  await run(argv[0]!, argv.slice(1));
  assert.doesNotMatch(await setsOf(), new RegExp(gone.hostVeth));
});

test('teardown after a crash (nothing stopped, only the prefix known) leaves no namespace, link, process, socket or nft table', { skip, timeout: 30_000 }, async () => {
  const pids = [...devices.map((d) => d.pid!), ...servers.map((s) => s.pid!)];
  assert.ok(isRelayRunning(topo.relayPid), 'the topology\'s relay runs before the teardown');
  for (const m of meshes) m.close();
  await destroyTopology(prefix);
  const { stdout: netns } = await run('ip', ['netns', 'list']);
  assert.doesNotMatch(netns, new RegExp(`^${prefix}-`, 'm'));
  const { stdout: links } = await run('ip', ['-o', 'link']);
  assert.doesNotMatch(links, new RegExp(prefix));
  assert.deepEqual((await readdir('/var/run/wireguard').catch(() => [])).filter((n) => n.startsWith(prefix)), []);
  const { stdout: tables } = await run('nft', ['list', 'tables']);
  assert.doesNotMatch(tables, /aloft_6pn/);
  const alive = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(alive, [], 'every wireguard-go and server process is gone');
  const { stdout: ps } = await run('ps', ['-eo', 'args']);
  assert.doesNotMatch(ps, new RegExp(`wireguard-go -f ${prefix}-`));
  // This topology's relay only: other fleets on this computer (tests, benchmarks) run relays of their own.
  assert.equal(isRelayRunning(topo.relayPid), false, `the relay (pid ${topo.relayPid}) is gone`);
});
