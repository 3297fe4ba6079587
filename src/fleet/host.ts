/**
 * One host's roles, started together: its state node, its agent, its edge proxy, the publisher
 * that writes the agent's host and machine rows into the state node, and its `.internal` DNS. `aloft up` runs one of these beside the control roles in one
 * process; each host of `aloft fleet up` runs one in its own process (host-main.ts).
 */
import { join } from 'node:path';
import { StatePublisher, startHostAgent, stateSecretsSource, type Agent, type CrashHook, type DriverName, type HostCapacity } from '../agent/index.ts';
import { systemClock, type Logger } from '../lib/index.ts';
import { EdgeProxy, Peers, RouteTable, type ProxyLimits, type ProxyTls } from '../proxy/index.ts';
import { agentMachineControl, agentUrlFromState } from './machine-control.ts';
import { stateRegionActivity } from './proxy-activity.ts';
import { ProxyFeed } from './proxy-feed.ts';
import { startDnsServer } from '../dns/index.ts';
import { defaultLatencyMatrix, type LatencyMatrix } from '../net/index.ts';
import { hostRegionDistance } from './region-distance.ts';
import { openState, type StateHandle, type StateTiming } from '../state/index.ts';
import type { Keyring, RevocationList } from '../tokens/index.ts';
import type { MasterKey } from '../secrets/index.ts';

export interface HostOptions {
  /** The host's own directory: the agent's records and the state node's database live here. */
  dataDir: string;
  hostId: string;
  /** The host's number in the private network's address plan. */
  hostNum: number;
  region: string;
  /** Address the public roles (proxy) listen on. */
  bindHost: string;
  /** Address the internal roles listen on: the agent (only the API gateway calls it) and, by default, the state node. */
  internalHost: string;
  /**
   * Where other hosts reach this one over the private network (its 6PN address, as root): the
   * state node gossips there and other proxies forward there. Default `internalHost`.
   */
  meshHost?: string;
  /**
   * Public ports other than 80 (ports.proxy) and 443 (tls.port) are listened on at the public
   * port plus this offset: 0 where the host has its own addresses (a fleet host's namespace),
   * 10000 on a dev box (`aloft up`: a TCP service on public port 5432 answers on 15432).
   */
  publicPortOffset?: number;
  /** 0 picks a free port. `stateHttp` omitted = no state HTTP API. */
  ports: { agent: number; proxy: number; gossip: number; stateHttp?: number };
  /** The agent pulls with platform tokens it mints from `keyring`. */
  registry: { url: string };
  /** The platform's root keys: the agent verifies every token locally with them. */
  keyring: Keyring;
  /** Revoked token ids for the agent; the caller keeps it fed (RevocationList.follow). */
  revocations: RevocationList;
  /** The platform's secrets master keys: machines get their app's secrets from the state node with them. */
  secretKeys: readonly MasterKey[];
  driver: DriverName | 'auto';
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  /** Shared secret of the state cluster (at least 16 bytes). */
  clusterKey: Uint8Array;
  /** State layer timing, where the network needs other than the defaults (slow links between regions). */
  stateTiming?: Partial<StateTiming>;
  /** Gossip addresses of state nodes to join through; empty for the first (or only) host. */
  seeds: readonly string[];
  logger: Logger;
  capacity?: HostCapacity;
  /** Prefix of namespace and interface names, unique per host on one computer. */
  namePrefix?: string;
  crashHook?: CrashHook;
  /**
   * The `.internal` resolver: where it answers (production: fdaa::3 port 53; port 0 picks one),
   * and the organization of askers without a 6PN source (loopback fleets only). Omitted = none.
   */
  dns?: { listen: readonly DnsListen[]; defaultOrg?: number };
  /**
   * RTTs between regions as the fleet's network has them: `.internal` answers nearest regions
   * first by it, and by the proxy's measured RTTs for regions it lacks (region-distance.ts).
   * Default: the matrix the simulated network uses by default.
   */
  regionLatency?: LatencyMatrix;
  /** TLS termination for the proxy (src/proxy/tls/), and the port public port 443 listens on. */
  tls?: { edge: ProxyTls; port: number };
  /** The proxy's bounds and timings where they differ from the defaults (tests shorten autostop's). */
  proxyLimits?: Partial<ProxyLimits>;
}

export interface DnsListen {
  host: string;
  port: number;
}

export interface RunningHost {
  id: string;
  region: string;
  agentUrl: string;
  proxyUrl: string;
  /** The proxy's TLS port (public port 443) as an https URL, when it terminates TLS. */
  tlsUrl: string | undefined;
  /** Gossip address (host:port) of the state node; other hosts use it as a seed. */
  stateAddress: string;
  stateHttpUrl: string | undefined;
  /** Where the `.internal` resolver answers (UDP and TCP), when it runs. */
  dnsAddresses: readonly DnsListen[];
  driver: { name: string; isolation: string };
  agent: Agent;
  state: StateHandle;
  proxy: EdgeProxy;
  /** Stops every role; with `stopMachines` false the machines keep running for the next start to adopt. */
  stop(stopMachines: boolean): Promise<void>;
}

/** How often a proxy measures its round trip to each peer proxy, and how long it waits for one. */
export const peerPingIntervalMs = 1_000;
export const peerPingTimeoutMs = 1_000;

/** Starts the host's roles in dependency order; if one fails, those already started are stopped. */
export async function startHost(opts: HostOptions): Promise<RunningHost> {
  const stops: Array<(stopMachines: boolean) => Promise<void>> = [];
  const stop = async (stopMachines: boolean): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s(stopMachines);
  };
  try {
    const state = await openState({
      dataDir: join(opts.dataDir, 'state'),
      clusterKey: opts.clusterKey,
      seeds: opts.seeds,
      host: opts.meshHost ?? opts.internalHost,
      ...(opts.stateTiming === undefined ? {} : { timing: opts.stateTiming }),
      port: opts.ports.gossip,
      ...(opts.ports.stateHttp === undefined ? {} : { httpPort: opts.ports.stateHttp }),
      log: opts.logger.child({ component: 'state' }),
    });
    stops.push(() => state.close());

    const hostAgent = await startHostAgent(
      {
        dataDir: opts.dataDir,
        hostId: opts.hostId,
        hostNum: opts.hostNum,
        region: opts.region,
        registry: opts.registry,
        driver: opts.driver,
        keyring: opts.keyring,
        revocations: opts.revocations,
        secrets: stateSecretsSource(state, opts.secretKeys),
        logger: opts.logger,
        ...(opts.capacity === undefined ? {} : { capacity: opts.capacity }),
        ...(opts.namePrefix === undefined ? {} : { namePrefix: opts.namePrefix }),
        ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
      },
      opts.ports.agent,
      opts.internalHost,
    );
    stops.push((stopMachines) => hostAgent.stop(stopMachines));

    // Every app's machines on every host, and the other hosts' proxies, come from the state layer.
    const routes = new RouteTable();
    const peers = new Peers({ selfHostId: opts.hostId, pingIntervalMs: peerPingIntervalMs, timeoutMs: peerPingTimeoutMs, logger: opts.logger.child({ component: 'peers' }) });
    stops.push(async () => peers.stop());
    const feed = new ProxyFeed({ state, routes, peers, selfHostId: opts.hostId, region: opts.region, logger: opts.logger.child({ component: 'proxy' }) });
    stops.push(async () => feed.close());
    const tls = opts.tls;
    const proxy = new EdgeProxy({
      routes,
      peers,
      // Autostart and autostop through the agents (this host's directly; others' at the URL their host row publishes).
      control: agentMachineControl({ agentUrlOf: (hostId) => (hostId === opts.hostId ? hostAgent.url : agentUrlFromState(state, hostId)), keyring: opts.keyring }),
      // Autostop is decided for the region by one proxy, from every proxy's traffic.
      activity: stateRegionActivity(state, opts.hostId, () => feed.leadsRegion()),
      ...(opts.proxyLimits === undefined ? {} : { limits: opts.proxyLimits }),
      domain: opts.domain,
      region: opts.region,
      logger: opts.logger.child({ component: 'proxy' }),
      ...(tls === undefined ? {} : { tls: tls.edge }),
      listenPortFor: (publicPort: number) => publicListenPort(publicPort, tls?.port, opts.publicPortOffset ?? 0),
    });
    const boundUrl = await proxy.listen(opts.ports.proxy, opts.bindHost);
    // Published for peer proxies: the address they reach this host at, with the port it got.
    const proxyUrl = opts.meshHost === undefined ? boundUrl : `http://${urlHost(opts.meshHost)}:${new URL(boundUrl).port || 80}`;
    stops.push(() => proxy.close());
    const tlsPort = proxy.boundPort(443);
    const tlsUrl = tlsPort === undefined ? undefined : `https://${urlHost(opts.bindHost)}:${tlsPort}`;

    const publisher = new StatePublisher(
      hostAgent.agent.service,
      state,
      { address: opts.internalHost, agentUrl: hostAgent.url, proxyUrl },
      systemClock,
      opts.logger.child({ component: 'publisher' }),
    );
    publisher.start();
    stops.push(async () => publisher.stop());

    let dnsAddresses: readonly DnsListen[] = [];
    if (opts.dns !== undefined) {
      const dns = await startDnsServer({
        state,
        listen: opts.dns.listen,
        region: opts.region,
        regionDistance: hostRegionDistance(opts.regionLatency ?? defaultLatencyMatrix, peers),
        ...(opts.dns.defaultOrg === undefined ? {} : { defaultOrg: opts.dns.defaultOrg }),
        logger: opts.logger.child({ component: 'dns' }),
      });
      stops.push(() => dns.close());
      dnsAddresses = dns.addresses;
    }

    return {
      id: opts.hostId,
      region: opts.region,
      agentUrl: hostAgent.url,
      proxyUrl,
      tlsUrl,
      stateAddress: state.address,
      stateHttpUrl: state.httpUrl,
      dnsAddresses,
      driver: hostAgent.driver,
      agent: hostAgent.agent,
      state,
      proxy,
      stop,
    };
  } catch (err) {
    await stop(false).catch(() => undefined);
    throw err;
  }
}

/** The port a public port is listened on (undefined: not served here, past the last port). */
function publicListenPort(publicPort: number, tlsPort: number | undefined, offset: number): number | undefined {
  if (publicPort === 443 && tlsPort !== undefined) return tlsPort;
  const port = publicPort + offset;
  return port <= 65535 ? port : undefined;
}

/** A host as it goes in a URL: IPv6 addresses in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
