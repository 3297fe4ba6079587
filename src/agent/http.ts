/**
 * The agent's HTTP API, called by the API gateway (never by users directly). Paths mirror the
 * Machines API per machine. The gateway checks users' tokens first, and the agent checks them
 * again itself (auth.ts), so a host never acts on a token it has not verified.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  createHttpServer,
  durationToMs,
  machineStates,
  objectBody,
  parseOrThrow,
  signalNameSchema,
  ValidationError,
  type Logger,
} from '../lib/index.ts';
import type { RevocationList } from '../tokens/index.ts';
import { checkAgentRequest, type AgentAuth } from './auth.ts';
import type { MachineService } from './machines.ts';
import { machineView } from './view.ts';

export const leaseNonceHeader = 'fly-machine-lease-nonce';

const createBody = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{14}$/),
  name: z.string().optional(),
  app: z.string(),
  app_id: z.string(),
  org: z.string(),
  org_num: z.number().int().min(1).max(65535),
  config: z.unknown(),
  skip_launch: z.boolean().optional(),
  skip_service_registration: z.boolean().optional(),
  reservation_id: z.string().optional(),
});
const cordonBody = z.strictObject({ cordoned: z.boolean() });
const reserveBody = z.strictObject({ cpus: z.number().int().min(1), memory_mb: z.number().int().min(1) });
const updateBody = z.object({ config: z.unknown(), skip_launch: z.boolean().optional(), current_version: z.string().optional() });
const stopBody = z.object({ signal: signalNameSchema.optional(), timeout: z.union([z.string(), z.number()]).optional() });
const signalBody = z.object({ signal: signalNameSchema });
const waitQuery = z.object({
  state: z.enum(machineStates).default('started'),
  timeout: z.coerce.number().int().min(1).max(60).default(60),
  instance_id: z.string().optional(),
});
const leaseBody = z.object({ ttl: z.number().int().min(1).optional(), description: z.string().optional() });
const execBody = z.object({
  cmd: z.union([z.string(), z.array(z.string())]).optional(),
  command: z.array(z.string()).optional(),
  stdin: z.string().optional(),
  timeout: z.number().int().min(1).max(600).optional(),
});

const revocationsBody = z.strictObject({ ids: z.array(z.string().min(1).max(128)).max(10_000) });

export function agentHttpServer(service: MachineService, auth: AgentAuth & { revocations: RevocationList }, logger: Logger): FastifyInstance {
  const app = createHttpServer(logger);
  // preHandler, not onRequest: a create is checked against the org, app and id in its body.
  app.addHook('preHandler', async (request) => checkAgentRequest(auth, service, request));
  const nonce = (r: FastifyRequest): string | undefined => r.headers[leaseNonceHeader] as string | undefined;
  const id = (r: FastifyRequest): string => (r.params as { id: string }).id;

  // Pushed by the API when a token is revoked; the periodic refresh catches anything missed.
  app.post('/v1/revocations', async (request) => {
    auth.revocations.add(parseOrThrow(revocationsBody, objectBody(request.body), '').ids);
    return { ok: true };
  });

  app.get('/v1/host', async () => hostView(service));

  app.put('/v1/host/cordon', async (request) => {
    const body = parseOrThrow(cordonBody, objectBody(request.body), '');
    service.capacity.setCordoned(body.cordoned);
    return hostView(service);
  });

  app.post('/v1/reservations', async (request) => {
    const body = parseOrThrow(reserveBody, objectBody(request.body), '');
    const r = service.reserve({ cpus: body.cpus, memoryMb: body.memory_mb });
    // Utilization after this reservation, so the gateway can rank offers by best fit.
    const used = service.capacity.used(service.list());
    const cap = service.capacity.capacity;
    const utilization = Math.max(used.cpus / cap.cpus, used.memoryMb / cap.memoryMb);
    return { id: r.id, expires_at: new Date(r.expiresAtMs).toISOString(), utilization_after: utilization };
  });
  app.delete('/v1/reservations/:id', async (request) => {
    service.capacity.release(id(request));
    return {};
  });

  app.get('/v1/machines', async (request) => {
    const q = request.query as { app_id?: string; include_deleted?: string };
    return service
      .list(q.include_deleted === 'true')
      .filter((m) => q.app_id === undefined || m.appId === q.app_id)
      .map(machineView);
  });

  app.post('/v1/machines', async (request, reply) => {
    const body = parseOrThrow(createBody, objectBody(request.body), '');
    const record = await service.create({
      id: body.id,
      app: body.app,
      appId: body.app_id,
      org: body.org,
      orgNum: body.org_num,
      config: body.config,
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(body.skip_launch === undefined ? {} : { skipLaunch: body.skip_launch }),
      ...(body.skip_service_registration === undefined ? {} : { skipServiceRegistration: body.skip_service_registration }),
      ...(body.reservation_id === undefined ? {} : { reservationId: body.reservation_id }),
    });
    return reply.status(200).send(machineView(record));
  });

  app.get('/v1/machines/:id', async (request) => machineView(service.get(id(request))));

  app.post('/v1/machines/:id', async (request) => {
    const body = parseOrThrow(updateBody, objectBody(request.body), '');
    const options = body.skip_launch === undefined ? {} : { skipLaunch: body.skip_launch };
    return machineView(await service.update(id(request), body.config, options, nonce(request)));
  });

  app.post('/v1/machines/:id/cordon', async (request) => machineView(service.setCordoned(id(request), true, nonce(request))));
  app.post('/v1/machines/:id/uncordon', async (request) => machineView(service.setCordoned(id(request), false, nonce(request))));

  app.delete('/v1/machines/:id', async (request) => {
    const q = request.query as { force?: string; kill?: string };
    await service.destroy(id(request), q.force === 'true' || q.kill === 'true', nonce(request));
    return { ok: true };
  });

  app.post('/v1/machines/:id/start', async (request) => {
    const { previous_state, record } = await service.start(id(request), nonce(request));
    return { previous_state, migrated: false, new_host: '', instance_id: record.instanceId };
  });

  app.post('/v1/machines/:id/stop', async (request) => {
    const body = parseOrThrow(stopBody, objectBody(request.body), '');
    await service.stop(
      id(request),
      {
        ...(body.signal === undefined ? {} : { signal: body.signal }),
        ...(body.timeout === undefined ? {} : { timeoutMs: durationToMs(body.timeout, 10_000) }),
      },
      nonce(request),
    );
    return { ok: true };
  });

  app.post('/v1/machines/:id/restart', async (request) => {
    const q = request.query as { signal?: string; timeout?: string };
    const signal = q.signal === undefined ? undefined : parseOrThrow(signalNameSchema, q.signal, 'signal');
    await service.restart(
      id(request),
      {
        ...(signal === undefined ? {} : { signal }),
        ...(q.timeout === undefined ? {} : { timeoutMs: durationToMs(/^\d+$/.test(q.timeout) ? Number(q.timeout) : q.timeout, 10_000) }),
      },
      nonce(request),
    );
    return { ok: true };
  });

  app.post('/v1/machines/:id/signal', async (request) => {
    const body = parseOrThrow(signalBody, objectBody(request.body), '');
    await service.signal(id(request), body.signal);
    return { ok: true };
  });

  app.get('/v1/machines/:id/wait', async (request) => {
    const q = parseOrThrow(waitQuery, request.query, '');
    const record = await service.wait(id(request), q.state, q.timeout * 1000, q.instance_id);
    return { ok: true, state: record.state, instance_id: record.instanceId };
  });

  app.get('/v1/machines/:id/events', async (request) => machineView(service.get(id(request))).events);

  app.get('/v1/machines/:id/logs', async (request) => {
    const offset = Number((request.query as { offset?: string }).offset ?? 0);
    return service.readLogs(id(request), Number.isFinite(offset) ? offset : 0);
  });

  app.post('/v1/machines/:id/exec', async (request) => {
    const body = parseOrThrow(execBody, objectBody(request.body), '');
    const cmd = body.command ?? (typeof body.cmd === 'string' ? ['/bin/sh', '-c', body.cmd] : body.cmd);
    if (cmd === undefined || cmd.length === 0) {
      throw new ValidationError('cmd is required: the command to run, as a string or an array', { field: 'cmd' });
    }
    const result = await service.exec(id(request), cmd, (body.timeout ?? 30) * 1000, body.stdin === undefined ? undefined : Buffer.from(body.stdin));
    return { exit_code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  });

  app.get('/v1/machines/:id/lease', async (request) => leaseView(service.getLease(id(request))));
  app.post('/v1/machines/:id/lease', async (request, reply) => {
    const body = parseOrThrow(leaseBody, objectBody(request.body), '');
    const owner = (request.headers['x-aloft-subject'] as string | undefined) ?? 'api';
    const lease = service.acquireLease(id(request), body.ttl ?? 30, body.description ?? '', owner, nonce(request));
    return reply.status(201).send(leaseView(lease));
  });
  app.delete('/v1/machines/:id/lease', async (request) => {
    service.releaseLease(id(request), nonce(request));
    return { ok: true };
  });

  return app;
}

function leaseView(lease: { nonce: string; owner: string; description: string; expiresAtMs: number; version: string }): Record<string, unknown> {
  return {
    status: 'success',
    data: {
      nonce: lease.nonce,
      expires_at: Math.floor(lease.expiresAtMs / 1000),
      owner: lease.owner,
      description: lease.description,
      version: lease.version,
    },
  };
}

/** What a host has, uses and runs, as its agent reports it (`GET /v1/host`). */
export interface HostView {
  id: string;
  region: string;
  capacity: { cpus: number; memory_mb: number };
  used: { cpus: number; memory_mb: number };
  cordoned: boolean;
  machines: number;
}

/** What the host has, uses and runs; the API gateway shows it in `aloft hosts list`. */
function hostView(service: MachineService): HostView {
  const machines = service.list();
  const used = service.capacity.used(machines);
  return {
    id: service.hostId,
    region: service.region,
    capacity: { cpus: service.capacity.capacity.cpus, memory_mb: service.capacity.capacity.memoryMb },
    used: { cpus: used.cpus, memory_mb: used.memoryMb },
    cordoned: service.capacity.cordoned,
    machines: machines.length,
  };
}
