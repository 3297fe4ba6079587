import type { FastifyInstance } from 'fastify';
import { AgentClient } from '../agent/index.ts';
import { createHttpServer, systemClock, type Clock, type Logger } from '../lib/index.ts';
import { mintPlatformToken, type Keyring } from '../tokens/index.ts';
import { tokenAuthenticator } from './auth.ts';
import type { ApiContext } from './context.ts';
import { noMachineRecords, type MachineRecords } from './machine-records.ts';
import { openApiDocument } from './openapi.ts';
import { appRoutes } from './routes-apps.ts';
import { certificateRoutes, type CertificateRoutesOptions } from './routes-certs.ts';
import { hostRoutes } from './routes-hosts.ts';
import { machineRoutes } from './routes-machines.ts';
import { registryRoutes } from './routes-registry.ts';
import { releaseRoutes } from './routes-releases.ts';
import { secretRoutes, type SecretRoutesOptions } from './routes-secrets.ts';
import { tokenRoutes } from './routes-tokens.ts';
import type { CentralStore, HostRow } from './store.ts';
import type { GcResult } from '../registry/index.ts';

export interface ApiServerOptions {
  store: CentralStore;
  /** The platform's root keys; the API verifies every token locally with them. */
  keyring: Keyring;
  /** Called with newly revoked token ids, for verifiers in this process (the registry of `aloft up`). */
  onRevoked?: (tokenIds: string[]) => void;
  defaultRegion: string;
  registryHost: string;
  logger: Logger;
  clock?: Clock;
  /** Certificates per hostname (routes-certs.ts); omitted: no certificate routes. */
  certificates?: CertificateRoutesOptions;
  /** App secrets (routes-secrets.ts): the master keys that seal them and where they are published. */
  secrets?: SecretRoutesOptions;
  /** Garbage collection of the platform registry (routes-registry.ts), run in the registry's process. */
  registryGc?: () => Promise<GcResult>;
  /** Machines as the state layer last carried them (machine-records.ts); omitted: nothing beyond the pins. */
  machineRecords?: MachineRecords;
}

/** The API gateway: Machines API, apps, tokens, placement, and forwarding to the machines' hosts. */
export function createApiServer(opts: ApiServerOptions): FastifyInstance {
  const clock = opts.clock ?? systemClock;
  const agents = new Map<string, AgentClient>();
  // Read-write: platform calls reserve and release capacity and push revocations.
  const platformToken = (): string => mintPlatformToken(opts.keyring, ['read', 'write'], clock.now());
  const agentOf = (host: HostRow): AgentClient => {
    let client = agents.get(host.id);
    if (client === undefined || client.url !== host.agent_url.replace(/\/$/, '')) {
      client = new AgentClient(host.agent_url, platformToken, host.id);
      agents.set(host.id, client);
    }
    return client;
  };
  const ctx: ApiContext = {
    store: opts.store,
    // The store is this API's revocation set: a revoke is refused here from the moment it is recorded.
    auth: tokenAuthenticator({ keyring: opts.keyring, clock, revocations: { isRevoked: (id) => opts.store.tokens.isRevoked(id) } }),
    keyring: opts.keyring,
    clock,
    agentOf,
    machineRecords: opts.machineRecords ?? noMachineRecords,
    announceRevoked(tokenIds) {
      opts.onRevoked?.(tokenIds);
      // Best effort: an agent that misses this push learns it at its next refresh.
      for (const host of opts.store.hosts()) {
        void agentOf(host)
          .revoke(tokenIds)
          .catch((err: unknown) => opts.logger.warn({ err, host: host.id }, 'could not push revoked tokens to a host; it will learn them at its next refresh'));
      }
    },
    defaultRegion: opts.defaultRegion,
    registryHost: opts.registryHost,
    logger: opts.logger,
  };
  const app = createHttpServer(opts.logger);
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/healthz', async () => ({ ok: true }));
  appRoutes(app, ctx);
  machineRoutes(app, ctx);
  hostRoutes(app, ctx);
  if (opts.certificates !== undefined) certificateRoutes(app, ctx, opts.certificates);
  tokenRoutes(app, ctx);
  releaseRoutes(app, ctx);
  if (opts.secrets !== undefined) secretRoutes(app, ctx, opts.secrets);
  registryRoutes(app, ctx, opts.registryGc);
  return app;
}
