/** Manifest endpoints, the tags list and the referrers API. */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors.ts';
import { manifestBytesMax } from '../manifest.ts';
import { isManifestMediaType, mediaTypes } from '../media-types.ts';
import { contentLength, header, type HandlerContext } from './context.ts';
import { send, sendJson } from './respond.ts';
import { methodNotAllowed } from './blob-routes.ts';

/** The largest page of tags one response carries, whatever `n` asks for. */
export const tagsPageMax = 10_000;

export async function handleManifest(ctx: HandlerContext, name: string, reference: string): Promise<void> {
  const { req, res, registry } = ctx;
  switch (req.method) {
    case 'GET':
    case 'HEAD': {
      const manifest = await registry.getManifest(name, reference);
      assertAcceptable(header(req, 'accept'), manifest.mediaType, name, reference);
      res.writeHead(200, {
        'Content-Type': manifest.mediaType,
        'Content-Length': manifest.body.length,
        'Docker-Content-Digest': manifest.digest,
        ETag: `"${manifest.digest}"`,
      });
      res.end(req.method === 'HEAD' ? undefined : manifest.body);
      return;
    }
    case 'PUT': {
      const body = await readBody(req, manifestBytesMax);
      const { digest, subject } = await registry.putManifest(name, reference, header(req, 'content-type') ?? '', body);
      send(res, 201, {
        Location: `/v2/${name}/manifests/${digest}`,
        'Docker-Content-Digest': digest,
        ...(subject === null ? {} : { 'OCI-Subject': subject }),
      });
      return;
    }
    case 'DELETE':
      await registry.deleteManifest(name, reference);
      send(res, 202);
      return;
    default:
      throw methodNotAllowed(req.method);
  }
}

export async function handleTags(ctx: HandlerContext, name: string): Promise<void> {
  const { url, res, registry } = ctx;
  const nParam = url.searchParams.get('n');
  if (nParam !== null && !/^\d{1,9}$/.test(nParam)) {
    throw new RegistryError('UNSUPPORTED', `n must be a non-negative integer, not '${nParam.slice(0, 20)}'`, { status: 400 });
  }
  const n = Math.min(nParam === null ? tagsPageMax : Number(nParam), tagsPageMax);
  const last = url.searchParams.get('last');
  const page = await registry.listTags(name, n, last);
  const lastTag = page.tags.at(-1);
  const link: Record<string, string> = page.more && lastTag !== undefined ? { Link: `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastTag)}>; rel="next"` } : {};
  sendJson(res, 200, { name, tags: page.tags }, link);
}

export async function handleReferrers(ctx: HandlerContext, name: string, digest: string): Promise<void> {
  const artifactType = ctx.url.searchParams.get('artifactType');
  const body = await ctx.registry.referrers(name, digest, artifactType);
  send(ctx.res, 200, { 'Content-Type': mediaTypes.ociIndex, ...(artifactType === null ? {} : { 'OCI-Filters-Applied': 'artifactType' }) }, body);
}

/**
 * Content negotiation. Manifests are stored as pushed and never converted, so a client whose
 * Accept names manifest types but not this one (and no wildcard) is told the manifest is not
 * available in a form it takes, as Docker's registry does. No Accept at all gets it as stored.
 */
function assertAcceptable(accept: string | null, mediaType: string, name: string, reference: string): void {
  if (accept === null) return;
  const offered = accept.split(',').map((part) => part.split(';')[0]!.trim());
  if (offered.includes(mediaType) || offered.includes('*/*') || !offered.some(isManifestMediaType)) return;
  throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is ${mediaType}, which the request's Accept does not include`, {
    detail: { name, reference, mediaType },
    hint: `add ${mediaType} to the Accept header`,
  });
}

/** Reads a whole request body of at most `bytesMax`, refusing larger ones with 413 before buffering them. */
async function readBody(req: IncomingMessage, bytesMax: number): Promise<Buffer> {
  const tooLarge = (): RegistryError =>
    new RegistryError('SIZE_INVALID', `manifest exceeds ${bytesMax} bytes`, { status: 413, detail: { manifestBytesMax: bytesMax } });
  const declared = contentLength(req);
  if (declared !== null && declared > bytesMax) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > bytesMax) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
