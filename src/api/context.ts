import type { FastifyRequest } from 'fastify';
import type { AgentClient } from '../agent/index.ts';
import type { Logger } from '../lib/index.ts';
import type { AccessRequest, Action, Authenticator, Principal } from './auth.ts';
import type { AppRow, CentralStore, HostRow } from './store.ts';

/** What every route handler of the gateway works with. */
export interface ApiContext {
  store: CentralStore;
  auth: Authenticator;
  agentOf(host: HostRow): AgentClient;
  /** Region used when a create names none. */
  defaultRegion: string;
  /** host:port of the platform's registry, for short image names. */
  registryHost: string;
  logger: Logger;
}

/** Authenticates the caller and checks it may do `action` on `appName`; returns the app. */
export async function authorizeApp(ctx: ApiContext, request: FastifyRequest, appName: string, action: Action): Promise<{ app: AppRow; principal: Principal }> {
  const principal = await ctx.auth.authenticate(request);
  const app = ctx.store.app(appName);
  const access: AccessRequest = { org: app.org_slug, app: app.name, action };
  ctx.auth.authorize(principal, access);
  return { app, principal };
}
