/**
 * The fleet's network as root: src/net's topology (a namespace per host, a core router between
 * regions, a delay relay on every inter-region pair), a wireguard-go per host started detached so
 * it outlives `fleet up`, every interface seeded with every other host so the state layer can
 * gossip over 6PN from the first packet, and per host the file its process joins the mesh with.
 * The control host is a topology host too (not an edge), so it gossips over the mesh like the rest.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/index.ts';
import {
  createTopology,
  generateWireguardKeyPair,
  hostCommand,
  hostWireguardOptions,
  isolationTable,
  seedTopologyMesh,
  topologyPrerequisites,
  WireguardDevice,
  type Topology,
  type TopologyHost,
  type TopologySpec,
} from '../net/index.ts';
import type { MeshMemberFile } from './mesh-member.ts';

export const controlHostName = 'ctl';

export interface SimulatedNetwork {
  topology: Topology;
  /** The topology host of a fleet host id (or `control`). */
  hostOf(id: string): TopologyHost;
  /** The mesh file a role's process is started with (`--mesh`). */
  meshFileOf(id: string): string;
  /** argv that runs `argv` inside the host's namespace. */
  command(id: string, argv: string[]): string[];
}

/** Whether this computer can run the simulated network (root, ip, nft, wireguard-go). */
export async function canSimulateNetwork(): Promise<boolean> {
  return (await topologyPrerequisites()).length === 0;
}

/**
 * Org isolation lets a machine be reached over 6PN only from its own org and the platform
 * addresses; a proxy on another host connects from that host's 6PN address, so each host's
 * table also accepts traffic to machines from the fleet's host addresses, and the machines'
 * answers on those connections (machines still cannot open connections to the hosts). Without it
 * a proxy could reach only the machines on its own host.
 */
async function letHostsReachMachines(netns: string, hostAddresses: readonly string[]): Promise<void> {
  const table = `inet ${isolationTable}`;
  const ruleset = [
    `add set ${table} fleet_hosts6 { type ipv6_addr; }`,
    `add element ${table} fleet_hosts6 { ${hostAddresses.join(', ')} }`,
    `insert rule ${table} to_machine ip6 saddr @fleet_hosts6 accept`,
    // The machine's answers to such a connection; connections it starts are still checked as before.
    `insert rule ${table} from_machine ct state established,related accept`,
  ].join('\n');
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], (err, _stdout, stderr) => (err === null ? resolve() : reject(new Error(`nft in ${netns}: ${stderr.trim() || err.message}`))));
    child.stdin!.end(`${ruleset}\n`);
  });
}

/** How a fleet owns its topology's prefix: another fleet given the same subnet is told this directory. */
export const networkOwner = (fleetDir: string): string => `the fleet in ${fleetDir}`;

/** Topology names allow no dashes: `ams-1` is `ams1`. */
const topologyName = (id: string): string => (id === 'control' ? controlHostName : id.replace(/-/g, ''));

export async function buildSimulatedNetwork(
  fleetDir: string,
  prefix: string,
  underlayOctet: number,
  controlRegion: string,
  hosts: ReadonlyArray<{ id: string; region: string }>,
  logger: Logger,
): Promise<SimulatedNetwork> {
  const spec: Omit<TopologySpec, 'logger'> = {
    prefix,
    hosts: [{ name: controlHostName, region: controlRegion, edge: false }, ...hosts.map((h) => ({ name: topologyName(h.id), region: h.region }))],
    // One client namespace per region (`<prefix>-c-c<region>`): the anycast address from there reaches the nearest edge.
    clients: [...new Set(hosts.map((h) => h.region))].map((region) => ({ name: `c${region}`, region })),
    rootLink: true,
    underlayOctet,
  };
  await mkdir(join(fleetDir, 'logs'), { recursive: true });
  // logDir: the delay relay runs detached and outlives `fleet up`.
  const topology = await createTopology({ ...spec, logDir: join(fleetDir, 'logs'), owner: networkOwner(fleetDir), logger });
  const meshDir = join(fleetDir, 'mesh');
  await mkdir(meshDir, { recursive: true, mode: 0o700 });
  const keys = new Map(topology.hosts.map((h) => [h.name, generateWireguardKeyPair()]));
  await Promise.all(
    topology.hosts.map((h) => WireguardDevice.start(hostWireguardOptions(h, keys.get(h.name)!.privateKey, { logFile: join(fleetDir, 'logs', `wireguard-${h.name}.log`), logger }))),
  );
  await seedTopologyMesh(topology.plan, (name) => keys.get(name)!.publicKey);
  await Promise.all(topology.hosts.map((h) => letHostsReachMachines(h.netns, topology.hosts.map((x) => x.sixpnAddress))));
  const ids = ['control', ...hosts.map((h) => h.id)];
  for (const id of ids) {
    const file: MeshMemberFile = { spec, name: topologyName(id), hostId: id, publicKey: keys.get(topologyName(id))!.publicKey };
    await writeFile(join(meshDir, `${id}.json`), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  }
  return {
    topology,
    hostOf: (id) => topology.host(topologyName(id)),
    meshFileOf: (id) => join(meshDir, `${id}.json`),
    command: (id, argv) => hostCommand(topology.host(topologyName(id)), argv),
  };
}
