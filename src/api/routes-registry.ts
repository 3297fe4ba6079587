/**
 * The platform registry as the API presents it: where it is (`GET /v1/registry`, for clients
 * that know only the API, such as a CLI logged in with `aloft auth login`), and garbage
 * collection for operators (`POST /v1/registry/gc`; safe while pushes run, see registry/gc.ts).
 * Only the registry's own process can collect, so the control host hands the API a way to ask it.
 */
import type { FastifyInstance } from 'fastify';
import type { GcResult } from '../registry/index.ts';
import type { ApiContext } from './context.ts';
import { authorizeOperator } from './routes-hosts.ts';

export function registryRoutes(app: FastifyInstance, ctx: ApiContext, collect: (() => Promise<GcResult>) | undefined): void {
  app.get('/v1/registry', async (request) => {
    ctx.auth.authenticate(request);
    return { url: `http://${ctx.registryHost}` };
  });
  if (collect === undefined) return;
  app.post('/v1/registry/gc', async (request) => {
    authorizeOperator(ctx, request, 'delete');
    return collect();
  });
}
