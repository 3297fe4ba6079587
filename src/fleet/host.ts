/**
 * One host's roles, started together: its state node, its agent, its edge proxy, and the
 * publisher that writes the agent's host and machine rows into the state node. `aloft up` runs one of these beside the control roles in one
 * process; each host of `aloft fleet up` runs one in its own process (host-main.ts).
 */
import { join } from 'node:path';
import { StatePublisher, startHostAgent, type Agent, type CrashHook, type DriverName, type HostCapacity, type MachineRecord } from '../agent/index.ts';
import { systemClock, type Logger } from '../lib/index.ts';
import { EdgeProxy, RouteTable, type MachineRoute } from '../proxy/index.ts';
import { openState, type StateHandle } from '../state/index.ts';

export interface HostOptions {
  /** The host's own directory: the agent's records and the state node's database live here. */
  dataDir: string;
  hostId: string;
  /** The host's number in the private network's address plan. */
  hostNum: number;
  region: string;
  /** Address the public roles (proxy) listen on. */
  bindHost: string;
  /** Address the internal roles listen on: the agent (only the API gateway calls it) and the state node. */
  internalHost: string;
  /** 0 picks a free port. `stateHttp` omitted = no state HTTP API. */
  ports: { agent: number; proxy: number; gossip: number; stateHttp?: number };
  registry: { url: string; password: string };
  /** Token the API gateway presents to the agent. */
  agentToken: string;
  driver: DriverName | 'auto';
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  /** Shared secret of the state cluster (at least 16 bytes). */
  clusterKey: Uint8Array;
  /** Gossip addresses of state nodes to join through; empty for the first (or only) host. */
  seeds: readonly string[];
  logger: Logger;
  capacity?: HostCapacity;
  /** Prefix of namespace and interface names, unique per host on one computer. */
  namePrefix?: string;
  crashHook?: CrashHook;
}

export interface RunningHost {
  id: string;
  region: string;
  agentUrl: string;
  proxyUrl: string;
  /** Gossip address (host:port) of the state node; other hosts use it as a seed. */
  stateAddress: string;
  stateHttpUrl: string | undefined;
  driver: { name: string; isolation: string };
  agent: Agent;
  state: StateHandle;
  /** Stops every role; with `stopMachines` false the machines keep running for the next start to adopt. */
  stop(stopMachines: boolean): Promise<void>;
}

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
      host: opts.internalHost,
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
        token: opts.agentToken,
        logger: opts.logger,
        ...(opts.capacity === undefined ? {} : { capacity: opts.capacity }),
        ...(opts.namePrefix === undefined ? {} : { namePrefix: opts.namePrefix }),
        ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
      },
      opts.ports.agent,
      opts.internalHost,
    );
    stops.push((stopMachines) => hostAgent.stop(stopMachines));

    const routes = new RouteTable();
    const unsubscribe = hostAgent.agent.service.onChange((record) => routes.upsert(routeOf(record)));
    stops.push(async () => unsubscribe());
    for (const record of hostAgent.agent.service.list()) routes.upsert(routeOf(record));
    const proxy = new EdgeProxy({ routes, domain: opts.domain, region: opts.region, logger: opts.logger.child({ component: 'proxy' }) });
    const proxyUrl = await proxy.listen(opts.ports.proxy, opts.bindHost);
    stops.push(() => proxy.close());

    const publisher = new StatePublisher(
      hostAgent.agent.service,
      state,
      { address: opts.internalHost, agentUrl: hostAgent.url, proxyUrl },
      systemClock,
      opts.logger.child({ component: 'publisher' }),
    );
    publisher.start();
    stops.push(async () => publisher.stop());

    return {
      id: opts.hostId,
      region: opts.region,
      agentUrl: hostAgent.url,
      proxyUrl,
      stateAddress: state.address,
      stateHttpUrl: state.httpUrl,
      driver: hostAgent.driver,
      agent: hostAgent.agent,
      state,
      stop,
    };
  } catch (err) {
    await stop(false).catch(() => undefined);
    throw err;
  }
}

function routeOf(record: MachineRecord): MachineRoute {
  return {
    id: record.id,
    app: record.app,
    state: record.state,
    region: record.region,
    hostId: record.hostId,
    address: record.network?.ipv4 ?? '',
    services: record.config.services,
  };
}
