import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AloftError, objectBody, parseOrThrow, randomHex } from '../lib/index.ts';
import { allows } from './auth.ts';
import { authorizeApp, type ApiContext } from './context.ts';
import type { AppRow } from './store.ts';

/** App names are DNS labels, because they become `<app>.<domain>` and `<app>.internal`. */
export const appNamePattern = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

const createAppBody = z.strictObject({
  app_name: z.string().regex(appNamePattern, 'lowercase letters, digits and dashes, 2–63 characters, starting with a letter'),
  org_slug: z.string().min(1).default('personal'),
  network: z.string().optional(),
  enable_subdomains: z.boolean().optional(),
});

export function appRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/v1/apps', async (request, reply) => {
    const body = parseOrThrow(createAppBody, objectBody(request.body), '');
    const principal = ctx.auth.authenticate(request);
    ctx.auth.authorize(principal, { org: body.org_slug, app: body.app_name, action: 'create' });
    const org = ctx.store.org(body.org_slug);
    const row = ctx.store.createApp({
      id: randomHex(8),
      name: body.app_name,
      org_slug: org.slug,
      network: body.network ?? 'default',
      created_at: Date.now(),
    });
    return reply.status(201).send(appView(ctx, row));
  });

  app.get('/v1/apps', async (request) => {
    const principal = ctx.auth.authenticate(request);
    const orgSlug = (request.query as { org_slug?: string }).org_slug;
    // Apps the caller may not read are left out, not refused.
    const rows = ctx.store.apps(orgSlug).filter((row) => allows(ctx.auth, principal, { org: row.org_slug, app: row.name, action: 'read' }));
    return { total_apps: rows.length, apps: rows.map((row) => appView(ctx, row)) };
  });

  app.get('/v1/apps/:app', async (request) => {
    const { app: row } = authorizeApp(ctx, request, (request.params as { app: string }).app, 'read');
    return appView(ctx, row);
  });

  app.delete('/v1/apps/:app', async (request, reply) => {
    const { app: row, token } = authorizeApp(ctx, request, (request.params as { app: string }).app, 'delete');
    // Machines first: if a host cannot be reached the app stays, with what is left, and the error says which host.
    for (const pin of ctx.store.pins(row.name)) {
      await ctx
        .agentOf(ctx.store.host(pin.host_id))
        .forward('DELETE', pin.machine_id, '', 'force=true', undefined, {}, token)
        .catch((err: unknown) => {
          // Already destroyed or unknown on its host: nothing left to destroy.
          if (!(err instanceof AloftError && (err.status === 410 || err.code === 'machine_not_found'))) throw err;
        });
      ctx.store.unpin(pin.machine_id);
    }
    ctx.store.deleteApp(row.name);
    return reply.status(202).send({});
  });
}

function appView(ctx: ApiContext, row: AppRow): Record<string, unknown> {
  const org = ctx.store.org(row.org_slug);
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    machine_count: ctx.store.pins(row.name).length,
    volume_count: 0,
    network: row.network,
    organization: { name: org.name, slug: org.slug },
  };
}
