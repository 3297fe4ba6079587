/**
 * The registry's HTTP server (node:http rather than fastify: repository names contain slashes,
 * which suits suffix matching better than a path router, and uploads are raw streams that go
 * straight from the socket into a hashed temp file with no body parsing in between).
 */
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../lib/clock.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import type { Authorize, IssueToken, RegistryAction } from './auth.ts';
import { RegistryError } from './errors.ts';
import type { GcResult } from './gc.ts';
import { handleBlob, handleUpload, handleUploadStart, methodNotAllowed } from './http/blob-routes.ts';
import type { HandlerContext } from './http/context.ts';
import { handleManifest, handleReferrers, handleTags } from './http/manifest-routes.ts';
import { sendError, sendJson } from './http/respond.ts';
import { matchRoute, type Route } from './http/router.ts';
import { assertRepositoryName } from './names.ts';
import { Registry } from './registry.ts';
import { defaultUploadLimits, type UploadLimits } from './uploads.ts';

export interface RegistryServerOptions {
  /** Where blobs, repositories and upload temp files live; created if missing. */
  dataDir: string;
  /** Asked about every request; see auth.ts. */
  authorize: Authorize;
  /** Serves `GET /token` when given (docker token-auth style). */
  issueToken?: IssueToken;
  logger?: Logger;
  clock?: Clock;
  uploadLimits?: Partial<UploadLimits>;
  /** Garbage collection spares blobs written or used this recently (default 15 minutes). */
  gcGraceMs?: number;
}

export interface RegistryServer {
  /** Starts listening; resolves with the base URL (e.g. http://127.0.0.1:40123). */
  listen(port?: number, host?: string): Promise<string>;
  /** Stops accepting, ends open connections and drops upload sessions. */
  close(): Promise<void>;
  /** The base URL once listening. */
  readonly url: string;
  /** Deletes blobs no manifest references; safe while pushes run (see gc.ts). */
  gc(): Promise<GcResult>;
}

const defaultGcGraceMs = 15 * 60 * 1000;
/** Idle keep-alive connections are closed after this; skopeo reuses connections between requests. */
const keepAliveTimeoutMs = 65_000;

export async function createRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  const logger = options.logger ?? silentLogger();
  const uploadLimits = { ...defaultUploadLimits, ...options.uploadLimits };
  const registry = new Registry({
    dataDir: options.dataDir,
    clock: options.clock ?? systemClock,
    logger,
    uploadLimits,
    gcGraceMs: options.gcGraceMs ?? defaultGcGraceMs,
  });
  // Temp files left by a crash were never visible; start clean.
  await rm(registry.blobs.tmpDir, { recursive: true, force: true });
  await mkdir(registry.blobs.tmpDir, { recursive: true });

  const sweeper = setInterval(() => {
    registry.uploads.expire().catch((err: unknown) => logger.warn({ err }, 'expiring idle uploads failed'));
  }, uploadSweepMs(uploadLimits.uploadIdleMsMax));
  // Sessions otherwise live until a client ends them: a client that walks away would hold its
  // place under the session caps, and its temp file, until the next garbage collection.
  sweeper.unref();

  const server: Server = createServer({ keepAliveTimeout: keepAliveTimeoutMs, requestTimeout: 0 }, (req, res) => {
    void handleRequest(req, res, registry, options, logger);
  });
  let url = '';
  return {
    async listen(port = 0, host = '127.0.0.1') {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${hostPart}:${address.port}`;
      logger.info({ url }, 'registry listening');
      return url;
    },
    async close() {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await registry.uploads.closeAll();
    },
    get url() {
      return url;
    },
    gc: () => registry.gc(),
  };
}

/** A session is dropped at most a quarter of its idle limit late (and at most a minute). */
function uploadSweepMs(idleMsMax: number): number {
  return Math.min(Math.max(Math.floor(idleMsMax / 4), 10), 60_000);
}

async function handleRequest(req: IncomingMessage, res: ServerResponse, registry: Registry, options: RegistryServerOptions, logger: Logger): Promise<void> {
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  const ip = req.socket.remoteAddress ?? '';
  try {
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    const route = routeOf(url.pathname);
    const ctx: HandlerContext = { req, res, url, registry, authorize: options.authorize, logger, ip };
    if (route.kind === 'token') {
      await handleToken(ctx, options.issueToken);
      return;
    }
    const repository = route.kind === 'base' ? null : route.name;
    if (repository !== null) assertRepositoryName(repository);
    await authorizeRequest(ctx, repository, actionOf(req.method));
    await dispatch(ctx, route);
  } catch (err) {
    sendError(res, err, logger, req.method === 'HEAD');
  } finally {
    logger.debug({ method: req.method, url: req.url, status: res.statusCode }, 'request');
  }
}

function routeOf(pathname: string): Route {
  let route: Route | null;
  try {
    route = matchRoute(pathname);
  } catch (err) {
    throw new RegistryError('NAME_INVALID', 'malformed percent-encoding in path', { cause: err });
  }
  if (route === null) throw new RegistryError('UNSUPPORTED', `no registry endpoint at ${pathname.slice(0, 200)}`, { status: 404 });
  return route;
}

function actionOf(method: string | undefined): RegistryAction {
  if (method === 'GET' || method === 'HEAD') return 'pull';
  if (method === 'DELETE') return 'delete';
  return 'push';
}

async function authorizeRequest(ctx: HandlerContext, repository: string | null, action: RegistryAction): Promise<void> {
  const result = await ctx.authorize({ headers: ctx.req.headers, repository, action, ip: ctx.ip });
  if (result.ok) return;
  if (result.status === 403) {
    throw new RegistryError('DENIED', result.message ?? `${action} on ${repository ?? 'the registry'} is not allowed`, { detail: { name: repository, action } });
  }
  throw new RegistryError('UNAUTHORIZED', result.message ?? 'authentication required', {
    detail: { name: repository, action },
    headers: result.challenge === undefined ? {} : { 'WWW-Authenticate': result.challenge },
  });
}

async function dispatch(ctx: HandlerContext, route: Route): Promise<void> {
  const method = ctx.req.method;
  switch (route.kind) {
    case 'base':
      sendJson(ctx.res, 200, {});
      return;
    case 'blob':
      if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') throw methodNotAllowed(method);
      return handleBlob(ctx, route.name, route.digest);
    case 'uploads':
      if (method !== 'POST') throw methodNotAllowed(method);
      return handleUploadStart(ctx, route.name);
    case 'upload':
      return handleUpload(ctx, route.name, route.id);
    case 'manifest':
      return handleManifest(ctx, route.name, route.reference);
    case 'tags':
      if (method !== 'GET') throw methodNotAllowed(method);
      return handleTags(ctx, route.name);
    case 'referrers':
      if (method !== 'GET') throw methodNotAllowed(method);
      return handleReferrers(ctx, route.name, route.digest);
    case 'token':
      throw methodNotAllowed(method);
  }
}

async function handleToken(ctx: HandlerContext, issueToken: IssueToken | undefined): Promise<void> {
  if (issueToken === undefined) throw new RegistryError('UNSUPPORTED', 'this registry has no token endpoint', { status: 404 });
  const result = await issueToken({
    headers: ctx.req.headers,
    service: ctx.url.searchParams.get('service'),
    scopes: ctx.url.searchParams.getAll('scope'),
    ip: ctx.ip,
  });
  if (!result.ok) {
    const status = result.status;
    const code = status === 401 ? 'UNAUTHORIZED' : 'DENIED';
    throw new RegistryError(code, result.message ?? 'credentials refused', { status, headers: result.challenge === undefined ? {} : { 'WWW-Authenticate': result.challenge } });
  }
  sendJson(ctx.res, 200, { token: result.token, access_token: result.token, expires_in: result.expiresInS });
}
