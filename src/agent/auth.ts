/**
 * The agent verifies every request's token itself, with the platform keyring it was given at
 * start and a local revocation list — it never asks the API. User operations arrive with the
 * caller's own token, checked against the machine's org, app, id and region as this agent
 * records them (so a token cannot be replayed against another app's machine even if the
 * gateway were fooled); platform calls (reservations, host info, listings, revocations) need a
 * platform token. A platform token is accepted on machine routes too: only holders of the root
 * keys can mint one.
 */
import type { FastifyRequest } from 'fastify';
import { ValidationError, type Clock } from '../lib/index.ts';
import {
  authenticateToken,
  authorizeToken,
  parseAuthorization,
  PLATFORM_ORG,
  type Action,
  type Keyring,
  type RevocationSet,
  type TokenRequest,
} from '../tokens/index.ts';
import type { MachineService } from './machines.ts';

export interface AgentAuth {
  keyring: Keyring;
  revocations: RevocationSet;
  clock: Clock;
}

type Access = Omit<TokenRequest, 'now'>;

/** Throws AuthError 401/403 unless one of the request's tokens allows what the route does. */
export function checkAgentRequest(auth: AgentAuth, service: MachineService, request: FastifyRequest): void {
  const now = auth.clock.now();
  const isRevoked = (id: string): boolean => auth.revocations.isRevoked(id);
  const tokens = parseAuthorization(request.headers.authorization);
  const access = accessOf(service, request);
  let firstError: unknown;
  for (const token of tokens) {
    try {
      const verified = authenticateToken(token, auth.keyring, now, { isRevoked });
      const platform = verified.org === PLATFORM_ORG;
      authorizeToken(verified, { ...(platform ? { org: PLATFORM_ORG, action: access.action } : access), now });
      return;
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
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
    return { org: body.org, app: body.app, machineId: body.id, region: service.region, action: 'create' };
  }
  const prefix = '/v1/machines/:id';
  if (route.startsWith(prefix)) {
    const record = service.get((request.params as { id: string }).id);
    const action = read ? 'read' : machineActions[`${method} ${route.slice(prefix.length)}`] ?? 'write';
    return { org: record.org, app: record.app, machineId: record.id, region: record.region, action };
  }
  return { org: PLATFORM_ORG, action: read ? 'read' : 'write' };
}
