/**
 * The tokens API: `POST /v1/tokens` makes a token no wider than the caller's, `GET /v1/tokens`
 * lists an organization's tokens (never their secrets), `DELETE /v1/tokens/{id}` revokes one,
 * and `GET /v1/revocations` gives platform components the revoked ids they refuse.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AuthError, NotFoundError, ValidationError, objectBody, parseOrThrow, randomHex } from '../lib/index.ts';
import {
  ACTIONS,
  attenuate,
  authenticateToken,
  describeCaveat,
  PLATFORM_ORG,
  REGISTRY_ACTIONS,
  type Caveat,
  type Keyring,
} from '../tokens/index.ts';
import type { Principal } from './auth.ts';
import type { ApiContext } from './context.ts';
import type { CentralStore } from './store.ts';
import type { TokenRow } from './token-store.ts';

const names = z.array(z.string().min(1).max(256)).min(1).max(256);
const createTokenBody = z.strictObject({
  org_slug: z.string().min(1).optional(),
  description: z.string().max(200).default(''),
  apps: names.optional(),
  actions: z.array(z.enum(ACTIONS)).min(1).optional(),
  machines: names.optional(),
  regions: names.optional(),
  registry: z
    .strictObject({
      // Default: the repositories named after the token's apps, `<org>/<app>`.
      repositories: names.optional(),
      actions: z.array(z.enum(REGISTRY_ACTIONS)).min(1),
    })
    .optional(),
  /** Seconds from now; without it the token lives as long as the caller's. */
  expires_in_s: z.number().int().min(1).max(10 * 365 * 24 * 3600).optional(),
});

export function tokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/v1/tokens', async (request, reply) => {
    const principal = ctx.auth.authenticate(request);
    const body = parseOrThrow(createTokenBody, objectBody(request.body), '');
    const org = body.org_slug ?? principal.org;
    // The new token is the caller's own token with more caveats, so it can never do more than
    // the caller's: the macaroon chain makes that a property of the signature, not of this code.
    const parent = principal.tokens.find((t) => t.verified.org === org);
    if (parent === undefined) throw new AuthError('forbidden', `your token is for organization '${principal.org}', not '${org}'`);
    ctx.store.org(org);
    const id = `tok_${randomHex(10)}`;
    const token = attenuate(parent.token, [...requestedCaveats(body, org, ctx.clock.now()), { type: 'token', tokenId: id }]);
    const row = recordToken(ctx.store, ctx.keyring, token, body.description, ctx.clock.now());
    return reply.status(201).send({ ...tokenView(row), token });
  });

  app.get('/v1/tokens', async (request) => {
    const principal = ctx.auth.authenticate(request);
    const org = (request.query as { org_slug?: string }).org_slug ?? principal.org;
    ctx.auth.authorize(principal, { org, action: 'read' });
    return { tokens: ctx.store.tokens.list(org).map(tokenView) };
  });

  app.delete('/v1/tokens/:id', async (request) => {
    const principal = ctx.auth.authenticate(request);
    const { id } = request.params as { id: string };
    const row = findToken(ctx.store, id);
    // Another organization's token is "not found" to this caller, so ids cannot be probed.
    if (!principal.tokens.some((t) => t.verified.org === row.org_slug)) throw new NotFoundError('token', id);
    if (!isAncestorOf(principal, row)) ctx.auth.authorize(principal, { org: row.org_slug, action: 'delete' });
    const revoked = ctx.store.tokens.revoke(id, ctx.clock.now());
    ctx.announceRevoked([id]);
    return tokenView(revoked);
  });

  app.get('/v1/revocations', async (request) => {
    const principal = ctx.auth.authenticate(request);
    ctx.auth.authorize(principal, { org: PLATFORM_ORG, action: 'read' });
    return { revoked: ctx.store.tokens.revokedIds(ctx.clock.now()) };
  });
}

/** Records a token's metadata (never the token) so it can be listed and revoked; returns the row. */
export function recordToken(store: CentralStore, keyring: Keyring, token: string, description: string, nowMs: number): TokenRow {
  const verified = authenticateToken(token, keyring, nowMs, { isRevoked: (id) => store.tokens.isRevoked(id) });
  const expiries = verified.caveats.flatMap((c) => (c.type === 'expires' ? [c.notAfterMs] : []));
  const row = {
    id: verified.tokenIds.at(-1)!,
    org_slug: verified.org,
    description,
    caveats: verified.caveats.filter((c) => c.type !== 'token'),
    chain: verified.tokenIds,
    created_at: nowMs,
    expires_at: expiries.length === 0 ? null : Math.min(...expiries),
  };
  store.tokens.record(row);
  return store.tokens.get(row.id);
}

function requestedCaveats(body: z.output<typeof createTokenBody>, org: string, nowMs: number): Caveat[] {
  const caveats: Caveat[] = [];
  if (body.apps !== undefined) caveats.push({ type: 'apps', apps: body.apps });
  if (body.actions !== undefined) caveats.push({ type: 'actions', actions: body.actions });
  if (body.machines !== undefined) caveats.push({ type: 'machines', machines: body.machines });
  if (body.regions !== undefined) caveats.push({ type: 'regions', regions: body.regions });
  if (body.registry !== undefined) {
    const repositories = body.registry.repositories ?? body.apps?.map((app) => `${org}/${app}`);
    if (repositories === undefined) {
      throw new ValidationError('a registry scope needs repositories', { field: 'registry.repositories', hint: 'name them, or name apps (their repositories are <org>/<app>)' });
    }
    caveats.push({ type: 'registry', repositories, actions: body.registry.actions });
  }
  if (body.expires_in_s !== undefined) caveats.push({ type: 'expires', notAfterMs: nowMs + body.expires_in_s * 1000 });
  return caveats;
}

function findToken(store: CentralStore, id: string): TokenRow {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(id)) throw new NotFoundError('token', id.slice(0, 128));
  return store.tokens.get(id);
}

/**
 * A caller may revoke its own token and any token derived from it: its whole chain of token ids
 * must begin the row's chain. Matching on one id would not do — anyone can append a `token`
 * caveat with any id offline, so a caller's last id proves nothing about who it is.
 */
function isAncestorOf(principal: Principal, row: TokenRow): boolean {
  return principal.tokens.some(({ verified }) => verified.tokenIds.length <= row.chain.length && verified.tokenIds.every((id, i) => row.chain[i] === id));
}

function tokenView(row: TokenRow): Record<string, unknown> {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    org_slug: row.org_slug,
    description: row.description,
    caveats: row.caveats.map(describeCaveat),
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    revoked: row.revoked_at !== null,
    revoked_at: iso(row.revoked_at),
  };
}
