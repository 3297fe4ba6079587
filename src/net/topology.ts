/**
 * A simulated multi-region network on one computer (root only), for `aloft fleet up`, tests and
 * benchmarks:
 *
 * - a core namespace `PREFIX-core` routing between regions: one bridge per region, region r
 *   (numbered from 1 in order of first appearance) on `10.U.r.0/24` with the core at `.1`;
 * - one namespace per host `PREFIX-h-NAME` whose underlay link `ul0` sits on its region's bridge
 *   at `10.U.r.(10+k)`, with the host's 6PN range routed into its WireGuard interface
 *   (`PREFIX-wN`, unique on the computer because wireguard-go's sockets are shared), forwarding
 *   on, the platform addresses (fdaa::3) on loopback and the isolation table installed;
 * - a delay relay process in the core with one UDP port per pair of hosts in different regions,
 *   holding each datagram for the pair's one-way delay: WireGuard peers in other regions are
 *   reached through it ({@link Topology.peerEndpoint}), so traffic over the mesh between regions
 *   takes the matrix's RTT. Within a region hosts reach each other directly;
 * - client namespaces `PREFIX-c-NAME` on their region's bridge; every edge host answers on one
 *   anycast address (on its loopback), and the core routes each client's packets for it, by
 *   source, to the edge nearest the client's region.
 *
 * Hosts should talk to each other over their 6PN addresses (`fdaa:0:0:N::1`), which ride the
 * mesh and so get the delay; their underlay addresses reach each other directly, undelayed.
 *
 * Everything made is named after the prefix, so {@link destroyTopology} finds and removes it
 * all, also after a crash, and building a topology first removes the remains of an old one —
 * unless another owner's topology with that prefix still runs (topology-owner.ts): then the
 * build is refused instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AloftError, PlatformError, ValidationError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { defaultDnsAddress, hostNumberMax, hostSixpnAddress, sixpnRange } from './address-plan.ts';
import { runCommand } from './command.ts';
import type { RelayPair } from './delay-relay.ts';
import { ipBatch, mustIp } from './ip.ts';
import { installIsolation } from './isolation.ts';
import { defaultLatencyMatrix, nearestRegion, regionRttMs, type LatencyMatrix } from './latency.ts';
import { killAndWait, listNetns, netnsDir, netnsPids, setSysctls } from './netns.ts';
import { claimTopology, ownerAlive, readTopologyOwner, recordRelay, releaseTopology, thisProcessOwner } from './topology-owner.ts';
import { uapiSocketDir } from './uapi.ts';
import type { WireguardOptions } from './wireguard.ts';

export const underlayIfname = 'ul0';
export const wireguardListenPort = 51820;
const relayPortBase = 40000;
const relayStartTimeoutMs = 15_000;
const regionsMax = 250;
const hostsPerRegionMax = 90;
const clientsPerRegionMax = 100;
/** Relay pairs travel as one command-line argument, which Linux caps at 128 KiB (~110 bytes each). */
const relayPairsMax = 1000;
const prefixPattern = /^[a-z][a-z0-9]{0,7}$/;
const namePattern = /^[a-z0-9]{1,20}$/;

export interface TopologySpec {
  /** 1–8 lowercase letters or digits; names every namespace, link and process made. */
  prefix: string;
  /** `edge` (default true): answers on the anycast address. Host numbers follow this order from 1. */
  hosts: readonly { name: string; region: string; edge?: boolean }[];
  clients?: readonly { name: string; region: string }[];
  latency?: LatencyMatrix;
  /** Second octet of the underlay `10.U.0.0/16`; only matters with `rootLink`. Default 123. */
  underlayOctet?: number;
  /** Also link the current namespace to the core (`PREFIX-up`) with a route to the underlay. */
  rootLink?: boolean;
  /** 6PN addresses every host serves its machines on and isolation lets through. Default fdaa::3. */
  platformAddresses?: readonly string[];
  /** Install the org isolation table in each host. Default true. */
  isolation?: boolean;
  /**
   * When set, the delay relay runs detached and logs here (`relay.log`), outliving this process
   * (a fleet started by a command that exits); destroyTopology ends it. Without it, the relay
   * exits when this process does.
   */
  logDir?: string;
  /** Who builds it, as a refused builder is told (`the fleet in DIR`). Default: this process. */
  owner?: string;
  logger?: Logger;
}

export interface TopologyHost {
  name: string;
  region: string;
  /** The host number in 6PN addresses (1…). */
  hostNum: number;
  netns: string;
  underlayAddress: string;
  gateway: string;
  edge: boolean;
  /** The host's own 6PN address, on its WireGuard interface. */
  sixpnAddress: string;
  wireguardIfname: string;
  wireguardListenPort: number;
  /** Where the host's WireGuard listens, as published to peers (`wg_endpoint`). */
  wireguardEndpoint: string;
  /** A MachineNetworks name prefix for this host's machines, so teardown finds their namespaces too. */
  machinePrefix: string;
}

export interface TopologyClient {
  name: string;
  region: string;
  netns: string;
  address: string;
  /** The edge host the anycast address reaches from this client. */
  edgeHost: string;
}

export interface Topology {
  readonly prefix: string;
  /** Everything derived from the spec (also computable elsewhere with planTopology). */
  readonly plan: TopologyPlan;
  readonly underlayCidr: string;
  readonly anycastAddress: string;
  readonly coreNetns: string;
  /** The current namespace's address on the root link, when asked for. */
  readonly rootAddress: string | undefined;
  readonly hosts: readonly TopologyHost[];
  readonly clients: readonly TopologyClient[];
  readonly latency: LatencyMatrix;
  /** The delay relay's process (in the core namespace). */
  readonly relayPid: number;
  host(name: string): TopologyHost;
  /** The ip:port host `from` should use for its WireGuard peer `to`: the relay across regions, direct within one. */
  peerEndpoint(from: string, to: string): string;
  /** Cuts a host off the network (its underlay link down at the core), or restores it. */
  setHostConnected(name: string, connected: boolean): Promise<void>;
  /** Removes everything (see destroyTopology). */
  destroy(): Promise<void>;
}

/** What is missing on this computer for a topology, as sentences; empty when nothing is. */
export async function topologyPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces, veth links and nftables need it)');
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
    ['wireguard-go', 'wireguard-go'],
  ] as const) {
    const found = await runCommand('sh', ['-c', `command -v ${tool}`]).catch(() => null);
    if (found?.exitCode !== 0) missing.push(`${tool} (Debian package ${pkg})`);
  }
  return missing;
}

async function requirePrerequisites(): Promise<void> {
  const missing = await topologyPrerequisites();
  if (missing.length > 0) {
    throw new AloftError('network_unavailable', 'config', `a simulated multi-region network needs ${missing.join(', ')}`, {
      hint: 'run as root after `bash scripts/setup.sh`; without root, run hosts as processes on loopback addresses',
    });
  }
}

export interface TopologyPlan {
  hosts: TopologyHost[];
  clients: TopologyClient[];
  regionIndex: Map<string, number>;
  relayPairs: (RelayPair & { hosts: [string, string] })[];
  anycastAddress: string;
  underlayCidr: string;
}

/** Addresses, names, relay ports and anycast choices, from the spec alone (no system calls). */
export function planTopology(spec: TopologySpec): TopologyPlan {
  if (!prefixPattern.test(spec.prefix)) throw new ValidationError(`topology prefix '${spec.prefix}' must be 1–8 lowercase letters or digits, starting with a letter`, { field: 'prefix' });
  const octet = spec.underlayOctet ?? 123;
  if (!Number.isInteger(octet) || octet < 0 || octet > 255) throw new ValidationError(`underlayOctet must be 0–255, not ${octet}`);
  if (spec.hosts.length === 0) throw new ValidationError('a topology needs at least one host');
  if (spec.hosts.length > hostNumberMax) throw new ValidationError(`a topology holds at most ${hostNumberMax} hosts`);
  const latency = spec.latency ?? defaultLatencyMatrix;
  const regionIndex = new Map<string, number>();
  const names = new Set<string>();
  const perRegion = new Map<string, number>();
  const net = `10.${octet}`;
  const checkName = (kind: string, name: string, region: string): void => {
    if (!namePattern.test(name)) throw new ValidationError(`${kind} name '${name}' must be 1–20 lowercase letters or digits`);
    if (!namePattern.test(region)) throw new ValidationError(`region '${region}' must be 1–20 lowercase letters or digits`);
    if (names.has(name)) throw new ValidationError(`'${name}' names two hosts or clients; names must be unique`);
    names.add(name);
    if (!regionIndex.has(region)) regionIndex.set(region, regionIndex.size + 1);
    if (regionIndex.size > regionsMax) throw new ValidationError(`a topology holds at most ${regionsMax} regions`);
  };
  const hosts = spec.hosts.map((h, i): TopologyHost => {
    checkName('host', h.name, h.region);
    const k = (perRegion.get(h.region) ?? 0) + 1;
    perRegion.set(h.region, k);
    if (k > hostsPerRegionMax) throw new ValidationError(`a region holds at most ${hostsPerRegionMax} hosts`);
    const hostNum = i + 1;
    const underlayAddress = `${net}.${regionIndex.get(h.region)}.${10 + k}`;
    return {
      name: h.name,
      region: h.region,
      hostNum,
      netns: `${spec.prefix}-h-${h.name}`,
      underlayAddress,
      gateway: `${net}.${regionIndex.get(h.region)}.1`,
      edge: h.edge ?? true,
      sixpnAddress: hostSixpnAddress(hostNum),
      wireguardIfname: `${spec.prefix}-w${hostNum}`,
      wireguardListenPort,
      wireguardEndpoint: `${underlayAddress}:${wireguardListenPort}`,
      machinePrefix: `${spec.prefix}-m${hostNum}`,
    };
  });
  for (const a of hosts) for (const b of hosts) regionRttMs(latency, a.region, b.region);
  const edges = hosts.filter((h) => h.edge);
  const edgeRegions = [...new Set(edges.map((h) => h.region))];
  const clientsPerRegion = new Map<string, number>();
  const clients = (spec.clients ?? []).map((c): TopologyClient => {
    checkName('client', c.name, c.region);
    const k = (clientsPerRegion.get(c.region) ?? 0) + 1;
    clientsPerRegion.set(c.region, k);
    if (k > clientsPerRegionMax) throw new ValidationError(`a region holds at most ${clientsPerRegionMax} clients`);
    const edgeRegion = nearestRegion(latency, c.region, edgeRegions);
    const edge = edges.find((h) => h.region === edgeRegion);
    if (edge === undefined) throw new ValidationError(`client ${c.name} needs an edge host, and no host is an edge`);
    return { name: c.name, region: c.region, netns: `${spec.prefix}-c-${c.name}`, address: `${net}.${regionIndex.get(c.region)}.${100 + k}`, edgeHost: edge.name };
  });
  const relayPairs: TopologyPlan['relayPairs'] = [];
  for (let i = 0; i < hosts.length; i += 1) {
    for (let j = i + 1; j < hosts.length; j += 1) {
      const a = hosts[i]!;
      const b = hosts[j]!;
      if (a.region === b.region) continue;
      relayPairs.push({
        port: relayPortBase + relayPairs.length,
        a: { address: a.underlayAddress, port: a.wireguardListenPort },
        b: { address: b.underlayAddress, port: b.wireguardListenPort },
        oneWayDelayMs: regionRttMs(latency, a.region, b.region) / 2,
        hosts: [a.name, b.name],
      });
    }
  }
  if (relayPairs.length > relayPairsMax) {
    throw new ValidationError(`${relayPairs.length} pairs of hosts in different regions need a delay relay each; at most ${relayPairsMax} are supported`, { hint: 'use fewer hosts or fewer regions' });
  }
  return { hosts, clients, regionIndex, relayPairs, anycastAddress: `${net}.0.100`, underlayCidr: `${net}.0.0/16` };
}

/**
 * The command line that runs `argv` as part of a host: in the host's network namespace, via
 * `nsenter --net` rather than `ip netns exec`, which would also give it a private mount
 * namespace where the machine namespaces it makes (`ip netns add`) stay invisible to everyone
 * else, teardown included.
 */
export function hostCommand(host: TopologyHost, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netnsDir}/${host.netns}`, '--', ...argv];
}

/** The options to start a topology host's WireGuard with (`WireguardDevice.start`); `logFile` runs it detached. */
export function hostWireguardOptions(host: TopologyHost, privateKey: string, extra: { logFile?: string; logger?: Logger } = {}): WireguardOptions {
  return {
    ifname: host.wireguardIfname,
    netns: host.netns,
    privateKey,
    listenPort: host.wireguardListenPort,
    addresses: [`${host.sixpnAddress}/128`],
    routes: [sixpnRange],
    ...extra,
  };
}

/** The ip:port host `from` uses for its WireGuard peer `to`: the relay across regions, the peer itself within one. */
export function planPeerEndpoint(plan: TopologyPlan, from: string, to: string): string {
  const a = planHost(plan, from);
  const b = planHost(plan, to);
  if (a.region === b.region) return b.wireguardEndpoint;
  const pair = plan.relayPairs.find((p) => p.hosts.includes(a.name) && p.hosts.includes(b.name))!;
  return `${a.gateway}:${pair.port}`;
}

function planHost(plan: TopologyPlan, name: string): TopologyHost {
  const h = plan.hosts.find((x) => x.name === name);
  if (h === undefined) throw new ValidationError(`the topology has no host '${name}' (hosts: ${plan.hosts.map((x) => x.name).join(', ')})`);
  return h;
}

/**
 * Builds the topology; on failure, removes what it made. Refused (`topology_in_use`) while another
 * owner's topology with this prefix runs.
 */
export async function createTopology(spec: TopologySpec): Promise<Topology> {
  const plan = planTopology(spec);
  await requirePrerequisites();
  const log = spec.logger ?? silentLogger();
  const started = performance.now();
  await claimTopology(spec.prefix, spec.owner ?? thisProcessOwner());
  let relay: ChildProcess | undefined;
  try {
    await removeTopology(spec.prefix);
    relay = await build(spec, plan);
    await recordRelay(spec.prefix, relay.pid!);
  } catch (err) {
    await destroyTopology(spec.prefix);
    throw err;
  }
  log.info({ prefix: spec.prefix, hosts: plan.hosts.length, clients: plan.clients.length, relayPairs: plan.relayPairs.length, ms: Math.round(performance.now() - started) }, 'network topology built');
  return topologyHandle(spec, plan, relay);
}

function topologyHandle(spec: TopologySpec, plan: TopologyPlan, relay: ChildProcess): Topology {
  const host = (name: string): TopologyHost => planHost(plan, name);
  const coreNetns = `${spec.prefix}-core`;
  return {
    prefix: spec.prefix,
    plan,
    underlayCidr: plan.underlayCidr,
    anycastAddress: plan.anycastAddress,
    coreNetns,
    rootAddress: spec.rootLink === true ? rootSideAddress(plan) : undefined,
    hosts: plan.hosts,
    clients: plan.clients,
    latency: spec.latency ?? defaultLatencyMatrix,
    relayPid: relay.pid!,
    host,
    peerEndpoint: (from, to) => planPeerEndpoint(plan, from, to),
    async setHostConnected(name, connected) {
      await mustIp(['-n', coreNetns, 'link', 'set', coreSideName(host(name)), connected ? 'up' : 'down']);
    },
    async destroy() {
      relay.stdin?.end();
      await destroyTopology(spec.prefix);
    },
  };
}

function coreSideName(host: TopologyHost): string {
  return `h${host.hostNum}`;
}

function rootSideAddress(plan: TopologyPlan): string {
  return `${underlayNet(plan)}.0.1`;
}

async function build(spec: TopologySpec, plan: TopologyPlan): Promise<ChildProcess> {
  const core = `${spec.prefix}-core`;
  if (spec.rootLink === true) await checkUnderlayFree(plan);
  await ipBatch([core, ...plan.hosts.map((h) => h.netns), ...plan.clients.map((c) => c.netns)].map((n) => `netns add ${n}`));
  await ipBatch(coreCommands(plan), core);
  await setSysctls(core, ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']);
  if (spec.rootLink === true) await linkRoot(spec.prefix, plan, core);
  const platformAddresses = spec.platformAddresses ?? [defaultDnsAddress];
  await Promise.all(plan.hosts.map((h) => setUpHost(h, plan, platformAddresses, spec.isolation !== false)));
  await Promise.all(plan.clients.map((c) => ipBatch(['link set lo up', `addr add ${c.address}/24 dev eth0`, 'link set eth0 up', `route add default via ${regionGateway(plan, c.region)}`], c.netns)));
  return startRelay(core, plan.relayPairs.map(({ hosts: _hosts, ...pair }) => pair), spec.logDir);
}

function underlayNet(plan: TopologyPlan): string {
  return plan.underlayCidr.replace(/\.0\.0\/16$/, '');
}

function regionGateway(plan: TopologyPlan, region: string): string {
  return `${underlayNet(plan)}.${plan.regionIndex.get(region)}.1`;
}

/**
 * The core's bridges, its links to hosts and clients, and the anycast routes: each client's
 * packets (by source) to its nearest edge, everyone else's to the first edge. Links are made
 * from the core with the far end created straight in its namespace, so no name ever appears in
 * the current namespace, where parallel topologies would collide.
 */
function coreCommands(plan: TopologyPlan): string[] {
  const net = underlayNet(plan);
  const commands = ['link set lo up'];
  for (const r of plan.regionIndex.values()) commands.push(`link add br${r} type bridge`, `addr add ${net}.${r}.1/24 dev br${r}`, `link set br${r} up`);
  for (const h of plan.hosts) {
    const side = coreSideName(h);
    commands.push(`link add ${side} type veth peer name ${underlayIfname} netns ${h.netns}`, `link set ${side} master br${plan.regionIndex.get(h.region)}`, `link set ${side} up`);
  }
  plan.clients.forEach((c, i) => {
    const side = `c${i + 1}`;
    const edge = plan.hosts.find((h) => h.name === c.edgeHost)!;
    const table = 1000 + i;
    commands.push(`link add ${side} type veth peer name eth0 netns ${c.netns}`, `link set ${side} master br${plan.regionIndex.get(c.region)}`, `link set ${side} up`);
    commands.push(`rule add from ${c.address}/32 table ${table} priority ${table}`, `route add ${plan.anycastAddress}/32 via ${edge.underlayAddress} table ${table}`);
  });
  const firstEdge = plan.hosts.find((h) => h.edge);
  if (firstEdge !== undefined) commands.push(`route add ${plan.anycastAddress}/32 via ${firstEdge.underlayAddress}`);
  return commands;
}

async function checkUnderlayFree(plan: TopologyPlan): Promise<void> {
  const taken = (await mustIp(['route', 'show', plan.underlayCidr])).trim();
  if (taken === '') return;
  throw new AloftError('underlay_in_use', 'config', `this computer already routes ${plan.underlayCidr} (${taken.slice(0, 200)}), so the topology's root link would collide with it`, {
    hint: 'pick another underlayOctet, or remove the other topology (destroyTopology)',
  });
}

/** A link from the current namespace (`PREFIX-up`) to the core, and a route to the underlay through it. */
async function linkRoot(prefix: string, plan: TopologyPlan, core: string): Promise<void> {
  const net = underlayNet(plan);
  await mustIp(['-n', core, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', `${prefix}-up`, 'netns', String(process.pid)]);
  await ipBatch([`addr add ${net}.0.2/30 dev up0`, 'link set up0 up'], core);
  await ipBatch([`addr add ${rootSideAddress(plan)}/30 dev ${prefix}-up`, `link set ${prefix}-up up`, `route add ${plan.underlayCidr} via ${net}.0.2`]);
}

async function setUpHost(h: TopologyHost, plan: TopologyPlan, platformAddresses: readonly string[], isolation: boolean): Promise<void> {
  const commands = ['link set lo up', `addr add ${h.underlayAddress}/24 dev ${underlayIfname}`, `link set ${underlayIfname} up`, `route add default via ${h.gateway}`];
  for (const a of platformAddresses) commands.push(`addr add ${a}/128 dev lo nodad`);
  if (h.edge) commands.push(`addr add ${plan.anycastAddress}/32 dev lo`);
  await ipBatch(commands, h.netns);
  await setSysctls(h.netns, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  if (isolation) await installIsolation(h.netns, { infraInterfaces: ['lo', underlayIfname, h.wireguardIfname], platformAddresses });
}

/**
 * The delay relay runs as a child inside the core namespace. Attached, it exits when our end of
 * its stdin closes; detached (with a log directory), it runs until destroyTopology ends it.
 */
async function startRelay(core: string, pairs: RelayPair[], logDir: string | undefined): Promise<ChildProcess> {
  const main = fileURLToPath(new URL('./delay-relay-main.ts', import.meta.url));
  let logFd: number | undefined;
  if (logDir !== undefined) {
    await mkdir(logDir, { recursive: true });
    logFd = openSync(join(logDir, 'relay.log'), 'a');
  }
  const args = ['netns', 'exec', core, process.execPath, main, JSON.stringify(pairs), ...(logFd === undefined ? [] : ['--detached'])];
  const child = spawn('ip', args, { stdio: logFd === undefined ? ['pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', logFd], detached: logFd !== undefined });
  if (logFd !== undefined) closeSync(logFd);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), relayStartTimeoutMs);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line === 'ready');
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    child.kill('SIGKILL');
    const output = logDir === undefined ? stderr : `see ${join(logDir, 'relay.log')}`;
    throw new PlatformError('relay_start_failed', `the delay relay did not start in ${core}: ${output.trim().slice(-500)}`);
  }
  // Our event loop does not wait for the relay: attached, its stdin pipe ties it to us; detached, nothing does.
  lines.close();
  child.stdout?.destroy();
  child.unref();
  for (const stream of [child.stdin, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/**
 * Removes everything a topology with this prefix made, whether or not it is running: every
 * process inside its namespaces (wireguard-go, the relay, hosts and their machines), the
 * namespaces (and with them their links, addresses and nft tables), WireGuard sockets left by
 * killed daemons, the root link and its owner's marker. Safe to call any number of times.
 * With `owner`, a topology that another owner has since built with this prefix and that still
 * runs is left alone (returns false): a fleet going down must not take a newer fleet with it.
 */
export async function destroyTopology(prefix: string, options: { owner?: string } = {}): Promise<boolean> {
  if (!prefixPattern.test(prefix)) throw new ValidationError(`topology prefix '${prefix}' must be 1–8 lowercase letters or digits, starting with a letter`, { field: 'prefix' });
  const current = await readTopologyOwner(prefix);
  if (options.owner !== undefined && current !== undefined && current.owner !== options.owner && ownerAlive(current)) return false;
  await removeTopology(prefix);
  await releaseTopology(prefix);
  return true;
}

/** Everything named after the prefix, whoever owns it (see destroyTopology). */
async function removeTopology(prefix: string): Promise<void> {
  const ours = (await listNetns()).filter((n) => n.startsWith(`${prefix}-`));
  const pids = (await Promise.all(ours.map(netnsPids))).flat();
  await killAndWait(pids);
  for (const name of await readdir(uapiSocketDir).catch(() => [] as string[])) {
    if (new RegExp(`^${prefix}-w\\d+\\.sock$`).test(name)) await unlink(`${uapiSocketDir}/${name}`).catch(() => undefined);
  }
  if (ours.length > 0) {
    const result = await runCommand('ip', ['-force', '-batch', '-'], `${ours.map((n) => `netns delete ${n}`).join('\n')}\n`);
    const left = (await listNetns()).filter((n) => ours.includes(n));
    if (left.length > 0) throw new PlatformError('topology_teardown_failed', `could not delete namespaces ${left.join(', ')}: ${result.stderr.trim().slice(0, 500)}`);
  }
  await runCommand('ip', ['link', 'delete', `${prefix}-up`]);
}
