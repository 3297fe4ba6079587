/**
 * Every role of one host in one process (`aloft up`): registry, central API, agent, and edge
 * proxy, with embedded defaults and all data under one directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent, createHostRuntime, detectHostCapacity, type DriverName, type MachineRecord } from '../agent/index.ts';
import { createApiServer, CentralStore, staticAdminAuthenticator } from '../api/index.ts';
import { createLogger, type Logger } from '../lib/index.ts';
import { EdgeProxy, RouteTable, type MachineRoute } from '../proxy/index.ts';
import { createRegistryServer, RegistryClient, staticTokenAuth, type RegistryServer } from '../registry/index.ts';
import { loadOrCreateSecret } from './admin-token.ts';

export interface LocalPlatformOptions {
  dataDir: string;
  /** Listen address of every role. */
  bindHost: string;
  ports: { api: number; proxy: number; registry: number; agent: number };
  region: string;
  domain: string;
  driver: DriverName | 'auto';
  logger?: Logger;
}

export interface Endpoints {
  api: string;
  proxy: string;
  registry: string;
  token: string;
  region: string;
  domain: string;
  driver: string;
  isolation: string;
}

/** Ports chosen to stay clear of common services (web servers, databases, dev servers). */
export const defaultPorts = { api: 7701, agent: 7702, registry: 7705, proxy: 7780 };
export const hostId = 'host-1';

export class LocalPlatform {
  readonly #opts: LocalPlatformOptions;
  readonly #logger: Logger;
  #registry?: RegistryServer;
  #registryClient?: RegistryClient;
  #store?: CentralStore;
  #agent?: Agent;
  #proxy?: EdgeProxy;
  #api?: ReturnType<typeof createApiServer>;
  #unsubscribe?: () => void;

  constructor(opts: LocalPlatformOptions) {
    this.#opts = { ...opts, dataDir: resolve(opts.dataDir) };
    this.#logger = opts.logger ?? createLogger('aloft');
  }

  get agent(): Agent | undefined {
    return this.#agent;
  }

  async start(): Promise<Endpoints> {
    const { dataDir, bindHost, ports } = this.#opts;
    await mkdir(dataDir, { recursive: true });
    const token = await loadOrCreateSecret(dataDir, 'admin-token');
    const agentToken = await loadOrCreateSecret(dataDir, 'agent-token');

    const auth = staticTokenAuth({ token });
    this.#registry = await createRegistryServer({
      dataDir: join(dataDir, 'registry'),
      authorize: auth.authorize,
      issueToken: auth.issueToken,
      logger: this.#logger.child({ component: 'registry' }),
    });
    const registryUrl = await this.#registry.listen(ports.registry, bindHost);
    this.#registryClient = new RegistryClient({ url: registryUrl, credentials: { password: token } });

    const runtime = await createHostRuntime({
      dataDir: join(dataDir, 'host'),
      driver: this.#opts.driver,
      source: this.#registryClient,
      defaultRegistry: new URL(registryUrl).host,
      hostNum: 1,
      logger: this.#logger.child({ component: 'runtime' }),
    });
    this.#agent = new Agent({
      dataDir: join(dataDir, 'host'),
      hostId,
      region: this.#opts.region,
      capacity: detectHostCapacity(),
      runtime: runtime.runtime,
      token: agentToken,
      logger: this.#logger.child({ component: 'agent' }),
    });

    const routes = new RouteTable();
    this.#unsubscribe = this.#agent.service.onChange((record) => routes.upsert(routeOf(record)));
    const agentUrl = await this.#agent.start(ports.agent, '127.0.0.1');
    for (const record of this.#agent.service.list()) routes.upsert(routeOf(record));

    this.#store = new CentralStore(join(dataDir, 'central.sqlite'));
    this.#store.ensureOrg('personal', 'Personal');
    this.#store.upsertHost({ id: hostId, region: this.#opts.region, agent_url: agentUrl });
    this.#api = createApiServer({
      store: this.#store,
      auth: staticAdminAuthenticator(token),
      agentToken,
      defaultRegion: this.#opts.region,
      registryHost: new URL(registryUrl).host,
      logger: this.#logger.child({ component: 'api' }),
    });
    const apiUrl = await this.#api.listen({ port: ports.api, host: bindHost });

    this.#proxy = new EdgeProxy({ routes, domain: this.#opts.domain, region: this.#opts.region, logger: this.#logger.child({ component: 'proxy' }) });
    const proxyUrl = await this.#proxy.listen(ports.proxy, bindHost);

    const endpoints: Endpoints = {
      api: apiUrl,
      proxy: proxyUrl,
      registry: registryUrl,
      token,
      region: this.#opts.region,
      domain: this.#opts.domain,
      driver: runtime.runtime.driver.name,
      isolation: runtime.runtime.driver.isolation,
    };
    await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
    return endpoints;
  }

  /** Stops every role; running machines are stopped but stay wanted, so the next start brings them back. */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#proxy?.close();
    await this.#api?.close();
    await this.#agent?.stop(true);
    this.#store?.close();
    await this.#registryClient?.close();
    await this.#registry?.close();
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
