import type { FastifyRequest } from 'fastify';
import type { AgentClient } from '../agent/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { Keyring } from '../tokens/index.ts';
import type { MachineRecords } from './machine-records.ts';
import type { AccessRequest, Action, Authenticator, Principal } from './auth.ts';
import type { AppRow, CentralStore, HostRow } from './store.ts';

/** What every route handler of the gateway works with. */
export interface ApiContext {
  store: CentralStore;
  auth: Authenticator;
  /** Root keys: verifies callers' tokens and mints platform tokens for calls to agents. */
  keyring: Keyring;
  clock: Clock;
  agentOf(host: HostRow): AgentClient;
  /** The state layer's last rows of machines, for those whose host does not answer. */
  machineRecords: MachineRecords;
  /** Tells every verifier outside the API about newly revoked token ids (see tokens/revocations.ts). */
  announceRevoked(tokenIds: string[]): void;
  /** Region used when a create names none. */
  defaultRegion: string;
  /** host:port of the platform's registry, for short image names. */
  registryHost: string;
  logger: Logger;
}

export interface AppAccess {
  app: AppRow;
  principal: Principal;
  /** The caller's token that allowed the request; forwarded to the agent doing the work. */
  token: string;
}

/** Authenticates the caller and checks it may do `action` on `appName` (and the machine and region given); returns the app. */
export function authorizeApp(
  ctx: ApiContext,
  request: FastifyRequest,
  appName: string,
  action: Action,
  target: { machineId?: string; region?: string } = {},
): AppAccess {
  const principal = ctx.auth.authenticate(request);
  const app = ctx.store.app(appName);
  const access: AccessRequest = { org: app.org_slug, app: app.name, action, ...target };
  const token = ctx.auth.authorize(principal, access);
  return { app, principal, token };
}
