/**
 * `aloft fleet up|down|status`: a control host (API, registry, central store) and hosts in
 * several regions on one computer. As root each host (the control host too) is a process in its
 * own network namespace on a simulated multi-region network (simulated-network.ts). Without
 * namespaces each host is a process on its own loopback address: 127.<subnet>.0.1 is the control host and 127.<subnet>.<r>.<n> is host n of
 * the r-th region, so an address says where it is. Hosts find each other through the control
 * host's state node as gossip seed, and keep gossiping among themselves when it is gone.
 *
 * Every process started is recorded in `<dataDir>/fleet.json` as soon as it runs, so `fleet down`
 * and a crash cleanup at the next `fleet up` find them all.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DriverName, HostCapacity } from '../agent/index.ts';
import { silentLogger, ValidationError, type Logger } from '../lib/index.ts';
import { destroyTopology } from '../net/index.ts';
import { writeEndpoints } from './endpoints-file.ts';
import type { Endpoints } from './local-platform.ts';
import { removeLeftovers } from './leftovers.ts';
import { endProcesses, spawnRole } from './processes.ts';
import { buildSimulatedNetwork, canSimulateNetwork, networkOwner, type SimulatedNetwork } from './simulated-network.ts';

export interface FleetOptions {
  dataDir: string;
  regions: string[];
  hostsPerRegion: number;
  driver: DriverName | 'auto';
  domain: string;
  /**
   * Second octet of the fleet's loopback addresses (1-254); distinct fleets on one computer need
   * distinct subnets. As root, a subnet whose network another running fleet owns is refused
   * (`topology_in_use`, naming that fleet's directory) rather than taken from it.
   */
  subnet: number;
  /** Each host's capacity; defaults to what this computer has (each host then believes it has all of it). */
  hostCapacity?: HostCapacity;
  /**
   * `netns` (root): each host in its own network namespace on a simulated multi-region network
   * with WireGuard and real inter-region delay; `loopback`: hosts are processes on loopback
   * addresses. `auto` picks netns where it can run.
   */
  network: 'auto' | 'netns' | 'loopback';
  logger?: Logger;
}

export interface FleetHost {
  id: string;
  region: string;
  address: string;
  agent: string;
  proxy: string;
  /** The proxy's TLS listener (public port 443), trusting `<fleet-dir>/tls/ca.crt` for `<app>.<domain>`. */
  tls: string | undefined;
  /** Gossip address of the host's state node. */
  state: string;
  /** host:port of the host's `.internal` resolver (UDP and TCP). */
  dns: string;
  pid: number;
}

export interface FleetRecord {
  /** The simulated network's prefix (netns fleets), recorded before it is built so teardown finds it after a crash. */
  topology?: string;
  control: { address: string; api: string; registry: string; state: string; pid: number } | undefined;
  hosts: FleetHost[];
  /** Every process started, recorded before anything else is awaited. */
  pids: number[];
}

/** endpoints.json of a fleet: what `aloft up` writes, plus where each host and its roles are. */
export interface FleetEndpoints extends Endpoints {
  network: 'netns' | 'loopback';
  hosts: Array<Omit<FleetHost, 'pid'>>;
  /** netns fleets: the address every edge answers on, routed to the nearest edge per client namespace. */
  anycast?: string;
  /** netns fleets: a client namespace per region, to send requests from (`ip netns exec NETNS curl ...`). */
  clients?: Array<{ region: string; netns: string; edge_host: string }>;
}

export const fleetFile = 'fleet.json';
export const regionsMax = 254;
export const hostsPerRegionMax = 254;

export function validateFleetOptions(opts: Pick<FleetOptions, 'regions' | 'hostsPerRegion' | 'subnet'>): void {
  if (opts.regions.length === 0 || opts.regions.length > regionsMax) throw new ValidationError(`--regions needs 1 to ${regionsMax} regions, got ${opts.regions.length}`, { field: 'regions' });
  for (const r of opts.regions) {
    if (!/^[a-z]{3}$/.test(r)) throw new ValidationError(`region '${r}' is not a three-letter code such as ams`, { field: 'regions' });
  }
  if (new Set(opts.regions).size !== opts.regions.length) throw new ValidationError('--regions lists a region twice', { field: 'regions' });
  if (!Number.isInteger(opts.hostsPerRegion) || opts.hostsPerRegion < 1 || opts.hostsPerRegion > hostsPerRegionMax) {
    throw new ValidationError(`--hosts-per-region must be 1 to ${hostsPerRegionMax}`, { field: 'hosts-per-region' });
  }
  if (!Number.isInteger(opts.subnet) || opts.subnet < 1 || opts.subnet > 254) throw new ValidationError('--subnet must be 1 to 254 (the second octet of 127.X.0.0/16)', { field: 'subnet' });
}

export function readFleet(dataDir: string): FleetRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(resolve(dataDir), fleetFile), 'utf8')) as FleetRecord;
  } catch {
    return undefined;
  }
}

/**
 * Starts the fleet and returns its endpoints once every host is serving. Whatever a previous
 * fleet in this directory left running (after a crash) is ended first. If a role fails to
 * start, everything started is ended again before the error is thrown.
 */
export async function fleetUp(options: FleetOptions): Promise<FleetEndpoints> {
  validateFleetOptions(options);
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  await fleetDown(dataDir);
  const stateKeyPath = join(dataDir, 'state-key');
  await writeFile(stateKeyPath, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const record: FleetRecord = { control: undefined, hosts: [], pids: [] };
  const save = (): Promise<void> => writeFile(join(dataDir, fleetFile), `${JSON.stringify(record, null, 2)}\n`);
  const started = (pid: number): Promise<void> => {
    record.pids.push(pid);
    return save();
  };
  try {
    const plan = options.regions.flatMap((region, r) =>
      Array.from({ length: options.hostsPerRegion }, (_, n) => ({ id: `${region}-${n + 1}`, region, address: `127.${options.subnet}.${r + 1}.${n + 1}`, hostNum: r * options.hostsPerRegion + n + 1 })),
    );
    const netns = options.network === 'netns' || (options.network === 'auto' && (await canSimulateNetwork()));
    let net: SimulatedNetwork | undefined;
    if (netns) {
      record.topology = `af${options.subnet}`;
      await save();
      net = await buildSimulatedNetwork(dataDir, record.topology, options.subnet, options.regions[0]!, plan, options.logger ?? silentLogger());
      // In the namespaces: underlay addresses, and the topology's host numbers (they are in 6PN addresses).
      for (const h of plan) {
        h.address = net.hostOf(h.id).underlayAddress;
        h.hostNum = net.hostOf(h.id).hostNum;
      }
    }
    const inNamespace = (id: string): ((argv: string[]) => string[]) | undefined => (net === undefined ? undefined : (argv) => net.command(id, argv));
    const meshArgs = (id: string): string[] => (net === undefined ? [] : ['--mesh', net.meshFileOf(id)]);

    const controlAddress = net === undefined ? `127.${options.subnet}.0.1` : net.hostOf('control').underlayAddress;
    const control = await spawnRole<{ api: string; registry: string; state: string }>(
      dataDir,
      'control',
      './control-main.ts',
      ['--fleet-dir', dataDir, '--address', controlAddress, '--region', options.regions[0]!, ...meshArgs('control')],
      started,
      inNamespace('control'),
    );
    record.control = { address: controlAddress, ...control.announced, pid: control.pid };
    await save();

    const hosts = await Promise.all(
      plan.map(async (h) => {
        const args = ['--fleet-dir', dataDir, '--host-id', h.id, '--host-num', String(h.hostNum), '--region', h.region, '--address', h.address, ...meshArgs(h.id)];
        args.push('--registry', control.announced.registry, '--api', control.announced.api, '--seeds', control.announced.state, '--driver', options.driver, '--domain', options.domain);
        if (options.hostCapacity !== undefined) args.push('--cpus', String(options.hostCapacity.cpus), '--memory-mb', String(options.hostCapacity.memoryMb));
        const spawned = await spawnRole<{ agent: string; proxy: string; tls?: string; state: string; dns: string; driver: { name: string; isolation: string } }>(dataDir, h.id, './host-main.ts', args, started, inNamespace(h.id));
        // From outside the namespaces a host's proxy is reached at its underlay address (port 80 there).
        const proxy = net === undefined ? spawned.announced.proxy : `http://${h.address}:80`;
        const tls = spawned.announced.tls === undefined ? undefined : net === undefined ? spawned.announced.tls : `https://${h.address}:443`;
        return { host: { id: h.id, region: h.region, address: h.address, agent: spawned.announced.agent, proxy, tls, state: spawned.announced.state, dns: spawned.announced.dns, pid: spawned.pid }, driver: spawned.announced.driver };
      }),
    );
    record.hosts = hosts.map((h) => h.host);
    await save();

    const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    const first = hosts[0]!;
    const endpoints: FleetEndpoints = {
      api: control.announced.api,
      proxy: first.host.proxy,
      registry: control.announced.registry,
      token,
      region: options.regions[0]!,
      domain: options.domain,
      driver: first.driver.name,
      isolation: first.driver.isolation,
      network: net === undefined ? 'loopback' : 'netns',
      hosts: record.hosts.map(({ pid: _pid, ...h }) => h),
      ...(net === undefined
        ? {}
        : { anycast: net.topology.anycastAddress, clients: net.topology.clients.map((c) => ({ region: c.region, netns: c.netns, edge_host: plan.find((h) => net!.hostOf(h.id).name === c.edgeHost)?.id ?? c.edgeHost })) }),
    };
    await writeEndpoints(dataDir, endpoints);
    return endpoints;
  } catch (err) {
    await fleetDown(dataDir);
    throw err;
  }
}

/**
 * Ends every process of the fleet in `dataDir` (hosts stop their machines first), then whatever
 * dead hosts left (machine processes, root filesystem mounts), and removes fleet.json and
 * endpoints.json. Returns how many fleet processes were recorded. Safe to repeat.
 */
export async function fleetDown(dataDir: string): Promise<number> {
  const dir = resolve(dataDir);
  const record = readFleet(dir);
  if (record !== undefined) await endProcesses(record.pids, dir, 'SIGINT');
  // Namespaces, links, wireguard-go and the relay; also machine namespaces named after the prefix.
  // Not when another fleet has since taken the prefix over and still runs (a refused or crashed start here).
  if (record?.topology !== undefined) await destroyTopology(record.topology, { owner: networkOwner(dir) });
  await removeLeftovers(join(dir, 'hosts'));
  await rm(join(dir, 'endpoints.json'), { force: true });
  await rm(join(dir, fleetFile), { force: true });
  return record?.pids.length ?? 0;
}
