/**
 * Operator routes over the fleet's hosts: `GET /v1/hosts` (capacity, use, machines, cordon and
 * whether the gateway can reach each), `POST /v1/hosts/{id}/cordon|uncordon|drain`.
 *
 * Hosts belong to whoever runs the platform, so these routes need a token of the operator's
 * organization (`personal`, whose admin token `aloft up` and `aloft fleet up` print).
 *
 * Drain = cordon, then move every machine of the host to another host of its region: each is
 * re-created elsewhere (same name, config and metadata; started again if it was started, left
 * stopped if it was stopped) and only then destroyed on the drained host. A machine that finds
 * no room elsewhere stays where it is and is reported with the reason; nothing waits in a queue.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HostView } from '../agent/index.ts';
import { AloftError, asAloftError, newMachineId, type Machine } from '../lib/index.ts';
import { mintPlatformToken } from '../tokens/index.ts';
import type { Action, Principal } from './auth.ts';
import type { ApiContext } from './context.ts';
import { placeMachine } from './placement.ts';
import type { HostRow, PinRow } from './store.ts';

/** The organization that operates the platform's hosts. */
export const operatorOrg = 'personal';

export interface HostListing {
  id: string;
  region: string;
  reachable: boolean;
  /** Why the host could not be asked, when it could not. */
  error?: string;
  capacity?: HostView['capacity'];
  used?: HostView['used'];
  cordoned?: boolean;
  /** Machines pinned to the host in the central store. */
  machines: number;
}

export interface DrainResult {
  host: string;
  moved: Array<{ machine: string; name: string; app: string; to_machine: string; to_host: string }>;
  failed: Array<{ machine: string; app: string; error: string; code: string }>;
}

export function hostRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/hosts', async (request) => {
    authorizeOperator(ctx, request, 'read');
    const hosts = ctx.store.hosts();
    return Promise.all(hosts.map((h) => listHost(ctx, h)));
  });

  for (const cordoned of [true, false]) {
    app.post(`/v1/hosts/:id/${cordoned ? 'cordon' : 'uncordon'}`, async (request) => {
      authorizeOperator(ctx, request, 'write');
      const host = ctx.store.host((request.params as { id: string }).id);
      const view = await ctx.agentOf(host).setCordoned(cordoned);
      return { id: host.id, region: host.region, cordoned: view.cordoned };
    });
  }

  app.post('/v1/hosts/:id/drain', async (request): Promise<DrainResult> => {
    const principal = authorizeOperator(ctx, request, 'write');
    const host = ctx.store.host((request.params as { id: string }).id);
    await ctx.agentOf(host).setCordoned(true);
    const result: DrainResult = { host: host.id, moved: [], failed: [] };
    // One at a time: each move places against capacity the previous one used.
    for (const pin of ctx.store.pinsOnHost(host.id)) {
      try {
        result.moved.push(await moveMachine(ctx, principal, host, pin));
      } catch (err) {
        const e = asAloftError(err);
        result.failed.push({ machine: pin.machine_id, app: pin.app, error: e.message, code: e.code });
      }
    }
    ctx.logger.info({ host: host.id, moved: result.moved.length, failed: result.failed.length }, 'host drained');
    return result;
  });
}

/**
 * Whether a machine is meant to be running, so its copy is launched: started, on its way there,
 * or stopped between restarts its policy asked for (a copy of a crash-looping service must not
 * come back as a stopped one).
 */
function meantToRun(machine: Machine): boolean {
  if (machine.state === 'started' || machine.state === 'starting' || machine.state === 'replacing') return true;
  // The Machines API lists events newest first.
  const last = machine.events[0];
  return machine.state === 'stopped' && last?.type === 'exit' && last.request?.exit_event?.restarting === true;
}

/** The caller must hold an organization-level token of the operator's organization. */
export function authorizeOperator(ctx: ApiContext, request: FastifyRequest, action: Action): Principal {
  const principal = ctx.auth.authenticate(request);
  ctx.auth.authorize(principal, { org: operatorOrg, action });
  return principal;
}

async function listHost(ctx: ApiContext, host: HostRow): Promise<HostListing> {
  const machines = ctx.store.pinsOnHost(host.id).length;
  try {
    const view = await ctx.agentOf(host).host();
    return { id: host.id, region: host.region, reachable: true, capacity: view.capacity, used: view.used, cordoned: view.cordoned, machines };
  } catch (err) {
    return { id: host.id, region: host.region, reachable: false, error: asAloftError(err).message, machines };
  }
}

/**
 * Re-creates the machine on another host of its region, then destroys the original. The copy is
 * created with the operator's own token (agents take creates only with the caller's token, so an
 * operator moves only machines their token may create); reading and destroying the original are
 * platform calls.
 */
async function moveMachine(ctx: ApiContext, operator: Principal, from: HostRow, pin: PinRow): Promise<DrainResult['moved'][number]> {
  const token = mintPlatformToken(ctx.keyring, ['read', 'write', 'delete'], ctx.clock.now());
  const source = ctx.agentOf(from);
  const machine = await source.forward<Machine>('GET', pin.machine_id, '', '', undefined, {}, token);
  const app = ctx.store.app(pin.app);
  const others = ctx.store.hosts(pin.region).filter((h) => h.id !== from.id);
  const { host, reservationId } = await placeMachine(pin.region, others, ctx.agentOf, { cpus: machine.config.guest.cpus, memoryMb: machine.config.guest.memory_mb });
  const target = ctx.agentOf(host);
  const id = newMachineId();
  let createToken: string;
  try {
    createToken = ctx.auth.authorize(operator, { org: app.org_slug, app: app.name, action: 'create', machineId: id, region: pin.region });
  } catch (err) {
    void target.release(reservationId).catch(() => undefined);
    throw err;
  }
  // The name and the public ports move with the machine: the new pin takes them over before the
  // new host works (no await between, so no other create sees the ports free), and gives them
  // back if the new host refuses.
  const ports = ctx.store.ports.of(pin.machine_id);
  ctx.store.unpin(pin.machine_id);
  ctx.store.pin({ machine_id: id, app: pin.app, host_id: host.id, name: pin.name, region: pin.region });
  ctx.store.ports.restore(id, pin.app, ports);
  try {
    await target.create(
      {
        id,
        name: pin.name,
        app: app.name,
        app_id: app.id,
        org: app.org_slug,
        org_num: ctx.store.org(app.org_slug).num,
        config: machine.config,
        reservation_id: reservationId,
        skip_launch: !meantToRun(machine),
      },
      createToken,
    );
  } catch (err) {
    ctx.store.unpin(id);
    ctx.store.pin(pin);
    ctx.store.ports.restore(pin.machine_id, pin.app, ports);
    void target.release(reservationId).catch(() => undefined);
    throw err;
  }
  try {
    await source.forward('DELETE', pin.machine_id, '', 'force=true', undefined, {}, token);
  } catch (err) {
    // The copy runs; the original could not be destroyed. Say so rather than pretend.
    throw new AloftError('drain_destroy_failed', 'platform', `machine ${pin.machine_id} was re-created as ${id} on ${host.id} but could not be destroyed on ${from.id}: ${asAloftError(err).message}`, {
      details: { machine: pin.machine_id, new_machine: id, host: from.id },
      hint: `destroy it once the host answers: aloft machine destroy ${pin.machine_id} -a ${pin.app} --force`,
      cause: err,
    });
  }
  return { machine: pin.machine_id, name: pin.name, app: pin.app, to_machine: id, to_host: host.id };
}
