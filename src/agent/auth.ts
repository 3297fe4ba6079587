/**
 * The agent verifies every request's token itself, with the platform keyring it was given at
 * start and a local revocation list — it never asks the API. User operations arrive with the
 * caller's own token, checked against the machine's org, app, id and region as this agent
 * recorded them, so a token cannot be replayed against another app's machine. Platform calls
 * (reservations, host info, listings, revocations) need a platform token, which only holders
 * of the root keys can mint; one is accepted on machine routes too.
 *
 * A create needs both: the caller's token for the new machine, and a platform token from the
 * API, because the org and app in a create's body are the API's word (app names are global,
 * and only the central store knows which organization owns one). Without it, anyone holding
 * some organization's token and reaching the agent could create a machine under another
 * organization's app name and take its traffic.
 *
 * Images come only from the platform registry, pulled with the agent's own platform token, so a
 * create or update may only name images in the machine's organization (`<org>/…`): otherwise a
 * machine could be started from another organization's private image.
 */
import type { FastifyRequest } from 'fastify';
import { AuthError, ValidationError, type Clock } from '../lib/index.ts';
import {
  authenticateTokens,
  authorizeToken,
  parseAuthorization,
  PLATFORM_ORG,
  type Action,
  type Keyring,
  type RevocationSet,
  type TokenRequest,
  type Verified,
} from '../tokens/index.ts';
import { parseImageRef } from './image/index.ts';
import type { MachineService } from './machines.ts';

export interface AgentAuth {
  keyring: Keyring;
  revocations: RevocationSet;
  clock: Clock;
}

type Access = Omit<TokenRequest, 'now'>;

/** Throws AuthError 401 when no token is valid, 403 unless the tokens allow what the route does. */
export function checkAgentRequest(auth: AgentAuth, service: MachineService, request: FastifyRequest): void {
  const now = auth.clock.now();
  // Authenticate before looking anything up, so an unauthenticated caller learns nothing (not even 404s).
  const isRevoked = (id: string): boolean => auth.revocations.isRevoked(id);
  const verified = authenticateTokens(parseAuthorization(request.headers.authorization), auth.keyring, now, { isRevoked }).map((t) => t.verified);
  const platform = verified.filter((v) => v.org === PLATFORM_ORG);
  const users = verified.filter((v) => v.org !== PLATFORM_ORG);
  const access = accessOf(service, request);
  const asPlatform: TokenRequest = { org: PLATFORM_ORG, action: access.action === 'create' ? 'write' : access.action, now };
  if (access.org === PLATFORM_ORG) {
    allowedByOne(platform, asPlatform, 'this call is for the platform: it needs a platform token');
  } else if (access.action === 'create') {
    allowedByOne(platform, asPlatform, 'a machine is created through the API, which vouches for its org and app with a platform token');
    allowedByOne(users, { ...access, now }, "a create carries the caller's own token");
  } else {
    allowedByOne([...users, ...platform], { ...access, now }, 'no token was given for this machine', (v) => (v.org === PLATFORM_ORG ? asPlatform : { ...access, now }));
  }
}

/** Returns when one of `candidates` allows its request; otherwise throws the first refusal (403). */
function allowedByOne(candidates: Verified[], request: TokenRequest, missing: string, requestOf: (v: Verified) => TokenRequest = () => request): void {
  let firstError: unknown;
  for (const v of candidates) {
    try {
      authorizeToken(v, requestOf(v));
      return;
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError ?? new AuthError('forbidden', missing);
}

/** Refuses (403) a config whose image is another organization's. A missing or odd image is left to the config's own validation. */
function checkImageOrg(config: unknown, org: string): void {
  const image = typeof config === 'object' && config !== null ? (config as { image?: unknown }).image : undefined;
  if (typeof image !== 'string') return;
  let repository: string;
  try {
    repository = parseImageRef(image).repository;
  } catch {
    return;
  }
  const owner = repository.split('/')[0];
  if (owner !== org) {
    throw new AuthError('forbidden', `image ${image} is in organization '${owner}'s repositories; a machine of organization '${org}' runs only its own organization's images`, {
      hint: `push the image to ${org}/… (e.g. \`aloft images import --org ${org}\`) and use that`,
    });
  }
}

const machineActions: Record<string, Action> = {
  'POST ': 'write',
  'DELETE ': 'delete',
  'POST /start': 'write',
  'POST /stop': 'write',
  'POST /restart': 'write',
  'POST /signal': 'write',
  'POST /exec': 'write',
  'POST /lease': 'write',
  'DELETE /lease': 'write',
};

/** What the route is about to do, named the way token caveats name things. */
function accessOf(service: MachineService, request: FastifyRequest): Access {
  const route = request.routeOptions.url ?? '';
  const method = request.method;
  const read = method === 'GET' || method === 'HEAD';
  if (route === '/v1/machines' && method === 'POST') {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body.org !== 'string' || typeof body.app !== 'string' || typeof body.id !== 'string') {
      throw new ValidationError('a machine create names its org, app and id');
    }
    checkImageOrg(body.config, body.org);
    return { org: body.org, app: body.app, machineId: body.id, region: service.region, action: 'create' };
  }
  const prefix = '/v1/machines/:id';
  if (route.startsWith(prefix)) {
    const record = service.get((request.params as { id: string }).id);
    const action = read ? 'read' : (machineActions[`${method} ${route.slice(prefix.length)}`] ?? 'write');
    if (route === prefix && method === 'POST') checkImageOrg(((request.body ?? {}) as Record<string, unknown>).config, record.org);
    return { org: record.org, app: record.app, machineId: record.id, region: record.region, action };
  }
  return { org: PLATFORM_ORG, action: read ? 'read' : 'write' };
}
