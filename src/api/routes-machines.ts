import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { leaseNonceHeader } from '../agent/index.ts';
import { AloftError, expandImageRef, machineConfigSchema, newMachineId, objectBody, parseOrThrow, type Machine } from '../lib/index.ts';
import type { Action } from './auth.ts';
import { allows } from './auth.ts';
import { authorizeApp, type ApiContext } from './context.ts';
import { listAppMachines } from './machine-listing.ts';
import { placeMachine } from './placement.ts';
import { portClaimsOf } from './port-claims.ts';
import type { PinRow } from './store.ts';

const createMachineBody = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes').optional(),
  region: z.string().regex(/^[a-z]{3}$/, 'a three-letter region code such as ams').optional(),
  config: z.unknown(),
  lease_ttl: z.number().int().min(1).optional(),
  skip_launch: z.boolean().optional(),
  skip_service_registration: z.boolean().optional(),
  skip_secrets: z.boolean().optional(),
});

type Params = { app: string; id: string };

/** Per-machine calls forwarded to the machine's host, with the action each needs. */
const forwarded: { method: 'GET' | 'POST' | 'DELETE'; path: string; action: Action }[] = [
  { method: 'GET', path: '', action: 'read' },
  { method: 'DELETE', path: '', action: 'delete' },
  { method: 'POST', path: '/start', action: 'write' },
  { method: 'POST', path: '/stop', action: 'write' },
  { method: 'POST', path: '/restart', action: 'write' },
  { method: 'POST', path: '/signal', action: 'write' },
  { method: 'POST', path: '/cordon', action: 'write' },
  { method: 'POST', path: '/uncordon', action: 'write' },
  { method: 'GET', path: '/wait', action: 'read' },
  { method: 'GET', path: '/events', action: 'read' },
  { method: 'GET', path: '/logs', action: 'read' },
  { method: 'POST', path: '/exec', action: 'write' },
  { method: 'GET', path: '/lease', action: 'read' },
  { method: 'POST', path: '/lease', action: 'write' },
  { method: 'DELETE', path: '/lease', action: 'write' },
];

export function machineRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/v1/apps/:app/machines', async (request) => {
    const body = parseOrThrow(createMachineBody, objectBody(request.body), '');
    const id = newMachineId();
    const region = body.region ?? ctx.defaultRegion;
    const { app: row, token } = authorizeApp(ctx, request, (request.params as Params).app, 'create', { machineId: id, region });
    const config = parseOrThrow(machineConfigSchema, body.config, 'config');
    config.image = expandImageRef(config.image, row.org_slug, ctx.registryHost);
    const name = body.name ?? id;
    ctx.store.checkNameFree(row.name, name);
    const ports = portClaimsOf(config);
    // Before any host works; claimed for real with the pin below (a racing claim fails there).
    ctx.store.ports.check(row.name, ports);
    const { host, reservationId } = await placeMachine(region, ctx.store.hosts(region), ctx.agentOf, {
      cpus: config.guest.cpus,
      memoryMb: config.guest.memory_mb,
    });
    const agent = ctx.agentOf(host);
    // The pin goes in first: it reserves the name (a racing create with the same name fails
    // here, before any host works) and is removed again if the host refuses.
    try {
      ctx.store.pin({ machine_id: id, app: row.name, host_id: host.id, name, region: host.region });
    } catch (err) {
      void agent.release(reservationId).catch(() => undefined);
      ctx.store.checkNameFree(row.name, name);
      throw err;
    }
    try {
      ctx.store.ports.replace(id, row.name, ports);
    } catch (err) {
      ctx.store.unpin(id);
      void agent.release(reservationId).catch(() => undefined);
      throw err;
    }
    let machine: Machine;
    try {
      machine = await agent.create({
        id,
        name,
        app: row.name,
        app_id: row.id,
        org: row.org_slug,
        org_num: ctx.store.org(row.org_slug).num,
        config,
        reservation_id: reservationId,
        ...(body.skip_launch === undefined ? {} : { skip_launch: body.skip_launch }),
        ...(body.skip_service_registration === undefined ? {} : { skip_service_registration: body.skip_service_registration }),
      }, token);
    } catch (err) {
      ctx.store.unpin(id);
      void agent.release(reservationId).catch(() => undefined);
      throw err;
    }
    return machine;
  });

  app.get('/v1/apps/:app/machines', async (request) => {
    const principal = ctx.auth.authenticate(request);
    const row = ctx.store.app((request.params as Params).app);
    const appAccess = { org: row.org_slug, app: row.name, action: 'read' as const };
    // A token limited to some machines or regions lists those; one that allows none of them is refused.
    let visible = (_m: Machine): boolean => true;
    if (!allows(ctx.auth, principal, appAccess)) {
      const pinned = ctx.store.pins(row.name).filter((pin) => allows(ctx.auth, principal, { ...appAccess, machineId: pin.machine_id, region: pin.region }));
      if (pinned.length === 0) ctx.auth.authorize(principal, appAccess);
      visible = (m) => allows(ctx.auth, principal, { ...appAccess, machineId: m.id, region: m.region });
    }
    const query = request.query as Record<string, string | undefined>;
    const listed = await listAppMachines(ctx, { app: row, region: query.region, includeDeleted: query.include_deleted === 'true' });
    const metadata = Object.entries(query).filter(([k]) => k.startsWith('metadata.'));
    return listed
      .filter(visible)
      .filter((m) => metadata.every(([k, v]) => m.config.metadata[k.slice('metadata.'.length)] === v))
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  });

  app.post('/v1/apps/:app/machines/:id', async (request) => {
    const params = request.params as Params;
    const access = authorizeMachine(ctx, request, params, 'write');
    const body = objectBody(request.body);
    // Validate here too, so a bad config is refused before any host is asked.
    const config = parseOrThrow(machineConfigSchema, body.config, 'config');
    config.image = expandImageRef(config.image, access.app.org_slug, ctx.registryHost);
    const machineId = access.pin.machine_id;
    const held = ctx.store.ports.of(machineId);
    ctx.store.ports.replace(machineId, access.pin.app, portClaimsOf(config));
    try {
      return await forward(ctx, request, access, 'POST', '', { ...body, config });
    } catch (err) {
      ctx.store.ports.restore(machineId, access.pin.app, held);
      throw err;
    }
  });

  for (const route of forwarded) {
    app.route({
      method: route.method,
      url: `/v1/apps/:app/machines/:id${route.path}`,
      handler: async (request, reply) => {
        const params = request.params as Params;
        const access = authorizeMachine(ctx, request, params, route.action);
        if (route.method === 'DELETE' && route.path === '') return destroyAndUnpin(ctx, request, access);
        const result = await forward(ctx, request, access, route.method, route.path, route.method === 'POST' ? objectBody(request.body) : undefined);
        if (route.method === 'POST' && route.path === '/lease') void reply.status(201);
        return result;
      },
    });
  }
}

interface MachineAccess {
  app: { org_slug: string };
  pin: PinRow;
  /** The caller's token that allowed the call; the agent verifies it again against its own record. */
  token: string;
}

/**
 * Checks the caller may do `action` on this machine (its app, id and region). An unknown machine
 * is only reported as not found to a caller who could act on it if it existed, so other
 * organizations cannot probe for machine ids.
 */
function authorizeMachine(ctx: ApiContext, request: FastifyRequest, params: Params, action: Action): MachineAccess {
  const principal = ctx.auth.authenticate(request);
  const app = ctx.store.app(params.app);
  let pin: PinRow;
  try {
    pin = ctx.store.pinOf(params.app, params.id);
  } catch (err) {
    ctx.auth.authorize(principal, { org: app.org_slug, app: app.name, action, machineId: params.id });
    throw err;
  }
  const token = ctx.auth.authorize(principal, { org: app.org_slug, app: app.name, action, machineId: pin.machine_id, region: pin.region });
  return { app, pin, token };
}

/** Destroys on the host, then unpins; a machine the host already destroyed or forgot is unpinned too. */
async function destroyAndUnpin(ctx: ApiContext, request: FastifyRequest, access: MachineAccess): Promise<unknown> {
  try {
    const result = await forward(ctx, request, access, 'DELETE', '', undefined);
    ctx.store.unpin(access.pin.machine_id);
    return result;
  } catch (err) {
    if (err instanceof AloftError && (err.status === 410 || err.code === 'machine_not_found')) {
      ctx.store.unpin(access.pin.machine_id);
      return { ok: true };
    }
    throw err;
  }
}

async function forward(ctx: ApiContext, request: FastifyRequest, access: MachineAccess, method: string, path: string, body: unknown): Promise<unknown> {
  const agent = ctx.agentOf(ctx.store.host(access.pin.host_id));
  const headers: Record<string, string> = {};
  const nonce = request.headers[leaseNonceHeader];
  if (typeof nonce === 'string') headers[leaseNonceHeader] = nonce;
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
  return agent.forward(method, access.pin.machine_id, path, query, body, headers, access.token);
}
