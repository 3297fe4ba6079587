import type { FastifyInstance } from 'fastify';
import { AgentClient } from '../agent/index.ts';
import { createHttpServer, type Logger } from '../lib/index.ts';
import type { Authenticator } from './auth.ts';
import type { ApiContext } from './context.ts';
import { openApiDocument } from './openapi.ts';
import { appRoutes } from './routes-apps.ts';
import { machineRoutes } from './routes-machines.ts';
import type { CentralStore, HostRow } from './store.ts';

export interface ApiServerOptions {
  store: CentralStore;
  auth: Authenticator;
  /** Token the gateway presents to agents. */
  agentToken: string;
  defaultRegion: string;
  registryHost: string;
  logger: Logger;
}

/** The API gateway: Machines API, apps, placement, and forwarding to the machines' hosts. */
export function createApiServer(opts: ApiServerOptions): FastifyInstance {
  const agents = new Map<string, AgentClient>();
  const ctx: ApiContext = {
    store: opts.store,
    auth: opts.auth,
    defaultRegion: opts.defaultRegion,
    registryHost: opts.registryHost,
    logger: opts.logger,
    agentOf(host: HostRow): AgentClient {
      let client = agents.get(host.id);
      if (client === undefined || client.url !== host.agent_url.replace(/\/$/, '')) {
        client = new AgentClient(host.agent_url, opts.agentToken, host.id);
        agents.set(host.id, client);
      }
      return client;
    },
  };
  const app = createHttpServer(opts.logger);
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/healthz', async () => ({ ok: true }));
  appRoutes(app, ctx);
  machineRoutes(app, ctx);
  return app;
}
