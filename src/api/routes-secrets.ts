/**
 * App secrets, as Fly's Machines API has them: `GET /v1/apps/{app}/secrets` lists names and
 * digests (never values), `POST` sets a map of name → value (null unsets), `DELETE
 * /secrets/{name}` unsets one. Each change is sealed with the app's data key, stored centrally
 * and published to the state layer for the hosts. Values never reach a log or an error.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { objectBody, parseOrThrow, PlatformError } from '../lib/index.ts';
import { describeSecrets, emptySecrets, updateSecrets, type MasterKey, type SealedSecrets } from '../secrets/index.ts';
import { authorizeApp, type ApiContext } from './context.ts';
import type { AppRow } from './store.ts';
import type { SecretsPublisher } from './secrets-publisher.ts';

export interface SecretRoutesOptions {
  masterKeys: readonly MasterKey[];
  publisher: SecretsPublisher;
}

const setBody = z.record(z.string(), z.string().nullable());

export function secretRoutes(app: FastifyInstance, ctx: ApiContext, opts: SecretRoutesOptions): void {
  const current = (row: AppRow): SealedSecrets => ctx.store.secrets.get(row.id)?.bundle ?? emptySecrets(row.name, opts.masterKeys[0]!);

  const change = (row: AppRow, changes: Record<string, string | null>) => {
    const bundle = updateSecrets(current(row), changes, opts.masterKeys, new Date(ctx.clock.now()));
    const stored = { app_id: row.id, app: row.name, bundle, updated_at: ctx.clock.now() };
    ctx.store.secrets.put(stored);
    // The central copy is the record; a state node that misses this gets it at the next boot's republish.
    try {
      opts.publisher.publish(stored);
    } catch (err) {
      ctx.logger.error({ err, app: row.name }, 'sealed secrets stored but not yet published to the hosts');
      throw new PlatformError('secrets_unpublished', `the secrets of ${row.name} are stored (version ${bundle.version}) but could not be sent to the hosts`, {
        status: 503,
        hint: 'machines keep the previous values until the state layer takes them; the API publishes every app again when it restarts',
      });
    }
    return { version: bundle.version, secrets: describeSecrets(bundle) };
  };

  app.get('/v1/apps/:app/secrets', async (request) => {
    const { app: row } = authorizeApp(ctx, request, (request.params as { app: string }).app, 'read');
    const bundle = ctx.store.secrets.get(row.id)?.bundle;
    return { version: bundle?.version ?? 0, secrets: bundle === undefined ? [] : describeSecrets(bundle) };
  });

  app.post('/v1/apps/:app/secrets', async (request) => {
    const { app: row } = authorizeApp(ctx, request, (request.params as { app: string }).app, 'write');
    return change(row, parseOrThrow(setBody, objectBody(request.body), 'secrets'));
  });

  app.delete('/v1/apps/:app/secrets/:name', async (request) => {
    const params = request.params as { app: string; name: string };
    const { app: row } = authorizeApp(ctx, request, params.app, 'write');
    return change(row, { [params.name]: null });
  });
}
