/**
 * Registry maintenance for operators: `POST /v1/registry/gc` deletes blobs no manifest
 * references (safe while pushes run; see registry/gc.ts). Only the registry's own process can
 * collect, so the control host hands the API a way to ask it.
 */
import type { FastifyInstance } from 'fastify';
import type { GcResult } from '../registry/index.ts';
import type { ApiContext } from './context.ts';
import { authorizeOperator } from './routes-hosts.ts';

export function registryRoutes(app: FastifyInstance, ctx: ApiContext, collect: () => Promise<GcResult>): void {
  app.post('/v1/registry/gc', async (request) => {
    authorizeOperator(ctx, request, 'delete');
    return collect();
  });
}
