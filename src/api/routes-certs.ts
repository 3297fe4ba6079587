/**
 * Certificates per hostname: `POST /v1/apps/{app}/certificates {hostname}` claims the hostname
 * for the app and obtains a certificate by ACME in the background; `GET` lists or shows them
 * (status pending → ready, or failed with the reason); `DELETE` removes one. Proxies fetch
 * every ready certificate and the live ACME challenges from `GET /v1/platform/tls`, a long poll
 * that answers as soon as anything changed after the version they hold.
 */
import type { FastifyInstance } from 'fastify';
import { isIP } from 'node:net';
import { z } from 'zod';
import { AloftError, ValidationError, asAloftError, objectBody, parseOrThrow, sleep } from '../lib/index.ts';
import { PLATFORM_ORG } from '../tokens/index.ts';
import type { CertificateIssuer } from './acme-issuer.ts';
import type { CertificateRow, CertificateStore } from './cert-store.ts';
import { authorizeApp, type ApiContext } from './context.ts';

export interface CertificateRoutesOptions {
  store: CertificateStore;
  /** Absent: the platform has no ACME directory, and adding a certificate says so. */
  issuer?: CertificateIssuer;
  /** Names under the platform's own domain get the internal CA's certificates instead. */
  platformDomain: string;
}

/** A proxy's long poll is answered after this long even when nothing changed. */
export const feedWaitMsMax = 20_000;
/** How often a waiting long poll looks at the store's version (changes from other processes included). */
export const feedCheckMs = 200;
/** Certificates are renewed when they have less than this left (Let's Encrypt's advice for 90-day certificates). */
export const renewBeforeMs = 30 * 24 * 3600 * 1000;
export const renewCheckMs = 3600 * 1000;

const addBody = z.strictObject({ hostname: z.string().min(1).max(253) });
const feedQuery = z.object({ after: z.coerce.number().int().min(-1).default(-1), wait: z.coerce.number().int().min(0).max(feedWaitMsMax).default(feedWaitMsMax) });

type Params = { app: string; hostname: string };

export function certificateRoutes(app: FastifyInstance, ctx: ApiContext, opts: CertificateRoutesOptions): void {
  const { store } = opts;
  const issuing = new Set<string>();
  let closing = false;

  const startIssuing = (hostname: string): void => {
    const issuer = opts.issuer;
    if (issuer === undefined || issuing.has(hostname)) return;
    issuing.add(hostname);
    void issuer
      .issue(hostname)
      .then((cert) => {
        // The store closes with the server; removed while it was being issued: nothing to store.
        if (closing) return;
        if (store.find(hostname) !== undefined) store.markReady(hostname, cert.certPem, cert.keyPem, cert.notAfterMs, ctx.clock.now());
      })
      .catch((err: unknown) => {
        if (closing) return;
        const message = asAloftError(err).message;
        ctx.logger.warn({ hostname, err: message }, 'certificate issuance failed');
        const row = store.find(hostname);
        // A failed renewal keeps the certificate it has, which still serves until it expires.
        if (row?.status === 'ready') store.noteRenewalFailed(hostname, message, ctx.clock.now());
        else if (row !== undefined) store.markFailed(hostname, message, ctx.clock.now());
      })
      .finally(() => issuing.delete(hostname));
  };

  // Issuances cut short by a restart start over: their challenges are stale, their rows still pending.
  store.clearChallenges();
  for (const row of store.pending()) startIssuing(row.hostname);

  const renewals = setInterval(() => {
    for (const row of store.ready()) if (row.not_after !== null && row.not_after - ctx.clock.now() < renewBeforeMs) startIssuing(row.hostname);
  }, renewCheckMs);
  renewals.unref();
  app.addHook('preClose', async () => {
    closing = true;
    opts.issuer?.close?.();
  });
  app.addHook('onClose', async () => clearInterval(renewals));

  app.post('/v1/apps/:app/certificates', async (request, reply) => {
    const { app: row } = await authorizeApp(ctx, request, (request.params as Params).app, 'write');
    const hostname = checkHostname(parseOrThrow(addBody, objectBody(request.body), '').hostname, opts.platformDomain);
    if (opts.issuer === undefined) {
      throw new AloftError('acme_not_configured', 'config', 'this platform has no ACME directory configured, so it cannot obtain certificates', {
        status: 422,
        hint: 'start the platform with an ACME directory (aloft up --acme-directory URL)',
      });
    }
    const { row: cert, created } = store.claim(hostname, row.name, ctx.clock.now());
    // Asking again for a certificate already issued (or being issued) changes nothing.
    if (cert.status === 'pending') startIssuing(hostname);
    return reply.status(created ? 201 : 200).send(certificateView(cert));
  });

  app.get('/v1/apps/:app/certificates', async (request) => {
    const { app: row } = await authorizeApp(ctx, request, (request.params as Params).app, 'read');
    return store.list(row.name).map(certificateView);
  });

  app.get('/v1/apps/:app/certificates/:hostname', async (request) => {
    const params = request.params as Params;
    const { app: row } = await authorizeApp(ctx, request, params.app, 'read');
    return certificateView(store.get(params.hostname.toLowerCase(), row.name));
  });

  app.delete('/v1/apps/:app/certificates/:hostname', async (request) => {
    const params = request.params as Params;
    const { app: row } = await authorizeApp(ctx, request, params.app, 'write');
    const cert = store.get(params.hostname.toLowerCase(), row.name);
    store.remove(cert.hostname);
    return { removed: cert.hostname };
  });

  app.get('/v1/platform/tls', async (request, reply) => {
    const principal = await ctx.auth.authenticate(request);
    ctx.auth.authorize(principal, { org: PLATFORM_ORG, action: 'read' });
    const query = parseOrThrow(feedQuery, request.query, 'query');
    const deadline = performance.now() + query.wait;
    // Waiting ends early when the proxy hangs up or the server closes (the store closes after it).
    const gone = (): boolean => closing || request.raw.destroyed || request.raw.socket.destroyed;
    while (!gone() && store.version() === query.after && performance.now() < deadline) await sleep(feedCheckMs);
    if (gone()) return reply.status(503).send({ error: 'the API is closing', code: 'closing', fault: 'platform' });
    return {
      version: store.version(),
      // Every claimed hostname routes to its app, even before its certificate is issued.
      hostnames: store.hostnames(),
      certificates: store.ready().map((c) => ({ hostname: c.hostname, app: c.app, cert_pem: c.cert_pem, key_pem: c.key_pem, not_after: c.not_after })),
      challenges: store.challenges(),
    };
  });
}

/** The Fly-like JSON of a certificate (keys never leave the platform). */
function certificateView(row: CertificateRow): Record<string, unknown> {
  return {
    hostname: row.hostname,
    app_name: row.app,
    status: row.status,
    source: 'acme',
    configured: row.status === 'ready',
    expires_at: row.not_after === null ? null : new Date(row.not_after).toISOString(),
    error: row.error,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

const labelPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A hostname a public ACME CA could issue for by http-01; lower-cased. */
export function checkHostname(raw: string, platformDomain: string): string {
  const hostname = raw.trim().toLowerCase().replace(/\.$/, '');
  const refuse = (why: string, hint: string): never => {
    throw new ValidationError(`hostname '${raw}' ${why}`, { field: 'hostname', hint });
  };
  if (hostname.startsWith('*.')) refuse('is a wildcard; http-01 validation cannot prove control of a wildcard', 'add each hostname on its own');
  if (isIP(hostname.replace(/^\[|\]$/g, '')) !== 0) refuse('is an IP address; certificates here are for DNS names', 'use a DNS name that points at the platform');
  const labels = hostname.split('.');
  if (hostname.length > 253 || labels.length < 2 || !labels.every((l) => labelPattern.test(l))) {
    refuse('is not a valid DNS name', 'use letters, digits and dashes in dot-separated labels, e.g. www.example.com');
  }
  if (/^\d+$/.test(labels.at(-1)!)) refuse('ends in a numeric label', 'use a DNS name with a real top-level domain');
  if (hostname === platformDomain || hostname.endsWith(`.${platformDomain}`) || hostname === 'localhost' || hostname.endsWith('.localhost')) {
    refuse(`is under the platform's own domain (${platformDomain}) or localhost`, "those names are served with the platform's internal CA already; nothing to add");
  }
  return hostname;
}
