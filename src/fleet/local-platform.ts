/**
 * Every role of one host in one process (`aloft up`): the control roles (registry, central API)
 * and one host's roles (state node, agent, edge proxy; see host.ts), with embedded defaults and
 * all data under one directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Agent, DriverName } from '../agent/index.ts';
import { createApiServer, CentralStore, staticAdminAuthenticator } from '../api/index.ts';
import { createLogger, type Logger } from '../lib/index.ts';
import { createRegistryServer, staticTokenAuth, type RegistryServer } from '../registry/index.ts';
import { loadOrCreateSecret } from './admin-token.ts';
import { startHost, type RunningHost } from './host.ts';

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
  #store?: CentralStore;
  #host?: RunningHost;
  #api?: ReturnType<typeof createApiServer>;

  constructor(opts: LocalPlatformOptions) {
    this.#opts = { ...opts, dataDir: resolve(opts.dataDir) };
    this.#logger = opts.logger ?? createLogger('aloft');
  }

  get agent(): Agent | undefined {
    return this.#host?.agent;
  }

  async start(): Promise<Endpoints> {
    const { dataDir, bindHost, ports } = this.#opts;
    await mkdir(dataDir, { recursive: true });
    const token = await loadOrCreateSecret(dataDir, 'admin-token');
    const agentToken = await loadOrCreateSecret(dataDir, 'agent-token');
    const clusterKey = await loadOrCreateSecret(dataDir, 'state-key');

    const auth = staticTokenAuth({ token });
    this.#registry = await createRegistryServer({
      dataDir: join(dataDir, 'registry'),
      authorize: auth.authorize,
      issueToken: auth.issueToken,
      logger: this.#logger.child({ component: 'registry' }),
    });
    const registryUrl = await this.#registry.listen(ports.registry, bindHost);

    this.#host = await startHost({
      dataDir: join(dataDir, 'host'),
      hostId,
      hostNum: 1,
      region: this.#opts.region,
      bindHost,
      internalHost: '127.0.0.1',
      ports: { agent: ports.agent, proxy: ports.proxy, gossip: 0 },
      registry: { url: registryUrl, password: token },
      agentToken,
      driver: this.#opts.driver,
      domain: this.#opts.domain,
      clusterKey: Buffer.from(clusterKey),
      seeds: [],
      logger: this.#logger,
    });
    const agentUrl = this.#host.agentUrl;

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

    const endpoints: Endpoints = {
      api: apiUrl,
      proxy: this.#host.proxyUrl,
      registry: registryUrl,
      token,
      region: this.#opts.region,
      domain: this.#opts.domain,
      driver: this.#host.driver.name,
      isolation: this.#host.driver.isolation,
    };
    await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
    return endpoints;
  }

  /** Stops every role; running machines are stopped but stay wanted, so the next start brings them back. */
  async stop(): Promise<void> {
    await this.#api?.close();
    await this.#host?.stop(true);
    this.#store?.close();
    await this.#registry?.close();
  }
}
