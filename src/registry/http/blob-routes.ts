/** Blob endpoints: HEAD/GET (with Range), DELETE, and uploads (POST, PATCH, PUT, GET, DELETE). */
import { assertDigest } from '../digest.ts';
import { RegistryError } from '../errors.ts';
import { isValidRepositoryName } from '../names.ts';
import { rangeHeaders, type ChunkRange } from '../uploads.ts';
import { contentLength, hasBody, header, type HandlerContext } from './context.ts';
import { send } from './respond.ts';
import { sendFileRange } from './send-file.ts';

export async function handleBlob(ctx: HandlerContext, name: string, digest: string): Promise<void> {
  const { req, res, registry } = ctx;
  if (req.method === 'DELETE') {
    await registry.deleteBlob(name, digest);
    send(res, 202, { 'Docker-Content-Digest': digest });
    return;
  }
  const sizeBytes = await registry.statBlob(name, digest, req.method === 'HEAD');
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
  const range = parseRange(header(req, 'range'), sizeBytes);
  if (range === 'unsatisfiable') {
    throw new RegistryError('BLOB_UNKNOWN', 'requested range is not satisfiable', {
      status: 416,
      headers: { 'Content-Range': `bytes */${sizeBytes}` },
      detail: { sizeBytes },
    });
  }
  const status = range === null ? 200 : 206;
  const length = range === null ? sizeBytes : range.end - range.start + 1;
  const responseHeaders = {
    ...headers,
    'Content-Length': length,
    ...(range === null ? {} : { 'Content-Range': `bytes ${range.start}-${range.end}/${sizeBytes}` }),
  };
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(status, responseHeaders);
    res.end();
    return;
  }
  // Opened before the headers go out, so a blob collected since statBlob is a 404, not a cut-off 200.
  const file = await registry.openBlob(digest);
  try {
    res.writeHead(status, responseHeaders);
    await sendFileRange(res, file, range ?? { start: 0, end: sizeBytes - 1 });
  } finally {
    await file.close();
  }
}

/** POST: start an upload, upload monolithically (`?digest=`), or mount (`?mount=&from=`). */
export async function handleUploadStart(ctx: HandlerContext, name: string): Promise<void> {
  const { req, res, url, registry } = ctx;
  const mount = url.searchParams.get('mount');
  const from = url.searchParams.get('from');
  // Refused whatever the source, so a bad digest is an error rather than a silent plain upload.
  if (mount !== null) assertDigest(mount);
  if (mount !== null && from !== null && (await mayMountFrom(ctx, from)) && (await registry.mount(name, mount, from))) {
    send(res, 201, { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount });
    return;
  }
  const session = await registry.uploads.start(name);
  const digest = url.searchParams.get('digest');
  if (digest === null) {
    send(res, 202, rangeHeaders(session));
    return;
  }
  await registry.uploads.append(session, req, null, contentLength(req));
  await registry.completeUpload(session, digest);
  send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** Mounting needs pull permission on the source; without it the client just uploads. */
async function mayMountFrom(ctx: HandlerContext, from: string): Promise<boolean> {
  if (!isValidRepositoryName(from)) return false;
  const result = await ctx.authorize({ headers: ctx.req.headers, repository: from, action: 'pull', ip: ctx.ip });
  return result.ok;
}

export async function handleUpload(ctx: HandlerContext, name: string, id: string): Promise<void> {
  const { req, res, url, registry } = ctx;
  const session = registry.uploads.get(name, id);
  switch (req.method) {
    case 'GET':
      send(res, 204, rangeHeaders(session));
      return;
    case 'DELETE':
      await registry.uploads.cancel(session);
      send(res, 204);
      return;
    case 'PATCH':
      await registry.uploads.append(session, req, parseContentRange(header(req, 'content-range')), contentLength(req));
      send(res, 202, rangeHeaders(session));
      return;
    case 'PUT': {
      const digest = url.searchParams.get('digest');
      if (digest === null) throw new RegistryError('DIGEST_INVALID', 'completing an upload needs ?digest=');
      if (hasBody(req)) await registry.uploads.append(session, req, parseContentRange(header(req, 'content-range')), contentLength(req));
      await registry.completeUpload(session, digest);
      send(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      return;
    }
    default:
      throw methodNotAllowed(req.method);
  }
}

export function methodNotAllowed(method: string | undefined): RegistryError {
  return new RegistryError('UNSUPPORTED', `method ${method ?? ''} not allowed here`, { status: 405 });
}

/** The spec's chunk range, `<start>-<end>` inclusive (a `bytes ` prefix is tolerated). */
function parseContentRange(value: string | null): ChunkRange | null {
  if (value === null) return null;
  const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(value.trim());
  if (m === null || Number(m[2]) < Number(m[1])) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `malformed Content-Range '${value.slice(0, 64)}'`, { status: 416 });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** An HTTP byte range over a blob of `sizeBytes`: one range only; multi-range requests get the whole blob. */
function parseRange(value: string | null, sizeBytes: number): ChunkRange | null | 'unsatisfiable' {
  if (value === null) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || sizeBytes === 0) return 'unsatisfiable';
    return { start: Math.max(sizeBytes - suffix, 0), end: sizeBytes - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? sizeBytes - 1 : Math.min(Number(m[2]), sizeBytes - 1);
  if (start >= sizeBytes || end < start) return 'unsatisfiable';
  return { start, end };
}
