/**
 * Releases of an app: a deploy begins one, rolls it out (from the CLI, through the Machines
 * API), then finishes it as complete or failed with the reason. Listing them gives the history
 * that `aloft releases` shows and that a rollback picks from.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { objectBody, parseOrThrow } from '../lib/index.ts';
import { authorizeApp, type ApiContext } from './context.ts';

const beginBody = z.strictObject({
  image: z.string().min(1),
  strategy: z.enum(['rolling', 'immediate', 'canary', 'bluegreen']),
  config: z.record(z.string(), z.unknown()),
  description: z.string().max(500).default(''),
});

const finishBody = z.strictObject({
  status: z.enum(['complete', 'failed']),
  failure: z.record(z.string(), z.unknown()).nullable().default(null),
});

type Params = { app: string; release: string };

export function releaseRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/v1/apps/:app/releases', async (request) => {
    const { app: row } = authorizeApp(ctx, request, (request.params as Params).app, 'read');
    return { releases: ctx.store.releases.list(row.id) };
  });

  app.get('/v1/apps/:app/releases/:release', async (request) => {
    const params = request.params as Params;
    const { app: row } = authorizeApp(ctx, request, params.app, 'read');
    return ctx.store.releases.get(row.id, params.release);
  });

  app.post('/v1/apps/:app/releases', async (request, reply) => {
    const { app: row } = authorizeApp(ctx, request, (request.params as Params).app, 'deploy');
    const body = parseOrThrow(beginBody, objectBody(request.body), '');
    return reply.status(201).send(ctx.store.releases.begin(row.id, body, ctx.clock.now()));
  });

  app.post('/v1/apps/:app/releases/:release/finish', async (request) => {
    const params = request.params as Params;
    const { app: row } = authorizeApp(ctx, request, params.app, 'deploy');
    const body = parseOrThrow(finishBody, objectBody(request.body), '');
    return ctx.store.releases.finish(row.id, ctx.store.releases.get(row.id, params.release).id, body.status, body.failure, ctx.clock.now());
  });
}
