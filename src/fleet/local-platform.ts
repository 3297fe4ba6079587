/**
 * Every role of one host in one process (`aloft up`): the control roles (registry, central API)
 * and one host's roles (state node, agent, edge proxy; see host.ts), with embedded defaults and
 * all data under one directory.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Agent, DriverName } from '../agent/index.ts';
import { createLogger, type Logger } from '../lib/index.ts';
import { followApiCertificates, type HostTls } from '../proxy/tls/index.ts';
import { mintPlatformToken, RevocationList } from '../tokens/index.ts';
import { loadOrCreateSecret } from './admin-token.ts';
import { startControl, type AcmeSettings, type RunningControl } from './control.ts';
import { writeEndpoints } from './endpoints-file.ts';
import { startHost, type RunningHost } from './host.ts';

export interface LocalPlatformOptions {
  dataDir: string;
  /** Listen address of every role. */
  bindHost: string;
  /** `tls` is where public port 443 (HTTPS for every app) listens. */
  ports: { api: number; proxy: number; registry: number; agent: number; tls: number };
  region: string;
  domain: string;
  driver: DriverName | 'auto';
  logger?: Logger;
  /** An ACME directory for `aloft certs add`; without it only the internal CA's names get certificates. */
  acme?: AcmeSettings;
}

export interface Endpoints {
  api: string;
  proxy: string;
  /** The proxy's TLS port; `ca_cert` is the internal CA to trust for `<app>.<domain>` there. */
  tls?: string;
  ca_cert?: string;
  registry: string;
  token: string;
  region: string;
  domain: string;
  driver: string;
  isolation: string;
}

/** One dev box serves every app: public port 80 is ports.proxy, 443 is ports.tls, any other P is P + this. */
export const devPublicPortOffset = 10_000;
/** Ports chosen to stay clear of common services (web servers, databases, dev servers). */
export const defaultPorts = { api: 7701, agent: 7702, registry: 7705, proxy: 7780, tls: 7743 };
export const hostId = 'host-1';

export class LocalPlatform {
  readonly #opts: LocalPlatformOptions;
  readonly #logger: Logger;
  #control?: RunningControl;
  #host?: RunningHost;
  #tls?: HostTls;
  /** The agent's revoked token ids: pushed by the API, refreshed from the central store. */
  readonly #revocations = new RevocationList();

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
    const clusterKey = await loadOrCreateSecret(dataDir, 'state-key');
    this.#control = await startControl({
      dataDir,
      bindHost,
      ports: { api: ports.api, registry: ports.registry },
      defaultRegion: this.#opts.region,
      logger: this.#logger,
      certificates: {
        domain: this.#opts.domain,
        ...(this.#opts.acme === undefined ? {} : { acme: this.#opts.acme }),
        proxyUrls: () => (this.#host === undefined ? [] : [this.#host.proxyUrl]),
      },
    });
    const control = this.#control;
    await this.#revocations.follow(control.revocationSource, this.#logger.child({ component: 'agent' }));
    // One host: its proxy follows the API's certificates directly (a fleet host wires its own source).
    this.#tls = await followApiCertificates({
      caDir: join(dataDir, 'tls'),
      domain: this.#opts.domain,
      apiUrl: control.apiUrl,
      token: () => mintPlatformToken(control.keyring, ['read'], Date.now()),
      logger: this.#logger.child({ component: 'tls' }),
    });
    this.#host = await startHost({
      dataDir: join(dataDir, 'host'),
      hostId,
      hostNum: 1,
      region: this.#opts.region,
      bindHost,
      internalHost: '127.0.0.1',
      ports: { agent: ports.agent, proxy: ports.proxy, gossip: 0 },
      publicPortOffset: devPublicPortOffset,
      registry: { url: control.registryUrl },
      keyring: control.keyring,
      revocations: this.#revocations,
      secretKeys: control.secretKeys,
      driver: this.#opts.driver,
      domain: this.#opts.domain,
      clusterKey: Buffer.from(clusterKey),
      seeds: [],
      logger: this.#logger,
      tls: { edge: this.#tls.edge, port: ports.tls },
    });
    control.store.upsertHost({ id: hostId, region: this.#opts.region, agent_url: this.#host.agentUrl });
    control.publishSecretsTo(this.#host.state);

    const endpoints: Endpoints = {
      api: control.apiUrl,
      proxy: this.#host.proxyUrl,
      ...(this.#host.tlsUrl === undefined ? {} : { tls: this.#host.tlsUrl }),
      ca_cert: this.#tls.caCertPath,
      registry: control.registryUrl,
      token: control.token,
      region: this.#opts.region,
      domain: this.#opts.domain,
      driver: this.#host.driver.name,
      isolation: this.#host.driver.isolation,
    };
    await writeEndpoints(dataDir, endpoints);
    return endpoints;
  }

  /** Stops every role; running machines are stopped but stay wanted, so the next start brings them back. */
  async stop(): Promise<void> {
    await this.#tls?.close();
    await this.#control?.stop();
    await this.#host?.stop(true);
    this.#revocations.stop();
  }
}
