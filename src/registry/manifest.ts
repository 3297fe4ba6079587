/**
 * Parsing and checking manifests on push. The registry stores manifest bytes exactly as pushed
 * (their digest is over those bytes), but first checks their shape and collects what they
 * reference, so that a manifest pointing at content the repository does not have is refused.
 */
import { z } from 'zod';
import { RegistryError } from './errors.ts';
import { isDigest } from './digest.ts';
import { isIndexMediaType, isManifestMediaType } from './media-types.ts';

/** Manifests larger than this are refused; the OCI spec recommends accepting at least 4 MiB. */
export const manifestBytesMax = 4 * 1024 * 1024;

const descriptorSchema = z.object({
  mediaType: z.string().min(1).max(255),
  digest: z.string().refine(isDigest, 'must be a sha256 digest'),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: z.unknown().optional(),
});

export type Descriptor = z.infer<typeof descriptorSchema>;

const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export interface ParsedManifest {
  mediaType: string;
  /** Blobs that must exist in the repository (config and layers, except foreign layers with `urls`). */
  blobs: string[];
  /** Manifests that must exist in the repository (children of an index). */
  manifests: string[];
  subject: Descriptor | null;
  /** For the referrers API: `artifactType`, else the config's media type. */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/**
 * Checks a pushed manifest. `contentType` is the request's Content-Type; a `mediaType` field in
 * the body must agree with it, as the spec requires.
 */
export function parseManifest(contentType: string, body: Buffer): ParsedManifest {
  const mediaType = contentType.split(';')[0]!.trim();
  if (!isManifestMediaType(mediaType)) {
    throw new RegistryError('MANIFEST_INVALID', `unsupported manifest media type '${mediaType.slice(0, 100)}'`, {
      detail: { mediaType: mediaType.slice(0, 100) },
      hint: 'push OCI image manifests or indexes, or Docker schema 2 manifests or manifest lists',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RegistryError('MANIFEST_INVALID', 'manifest is not valid JSON', { cause: err });
  }
  const schema = isIndexMediaType(mediaType) ? indexSchema : imageManifestSchema;
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RegistryError('MANIFEST_INVALID', `manifest does not match ${mediaType}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`, {
      detail: { mediaType, path: issue?.path.join('.') ?? '' },
    });
  }
  const data = result.data;
  if (data.mediaType !== undefined && data.mediaType !== mediaType) {
    throw new RegistryError('MANIFEST_INVALID', `manifest mediaType '${data.mediaType}' differs from Content-Type '${mediaType}'`, {
      detail: { mediaType: data.mediaType, contentType: mediaType },
    });
  }
  const subject = data.subject ?? null;
  const annotations = data.annotations ?? null;
  if ('manifests' in data) {
    return { mediaType, blobs: [], manifests: data.manifests.map((m) => m.digest), subject, artifactType: data.artifactType ?? null, annotations };
  }
  const layers = data.layers.filter((layer) => layer.urls === undefined || layer.urls.length === 0);
  return {
    mediaType,
    blobs: [data.config.digest, ...layers.map((layer) => layer.digest)],
    manifests: [],
    subject,
    artifactType: data.artifactType ?? data.config.mediaType,
    annotations,
  };
}

/**
 * What a stored manifest references, for garbage collection. Throws if the manifest no longer
 * parses, so that collection stops rather than treating its blobs as unreferenced.
 */
export function referencesOf(mediaType: string, body: Buffer): string[] {
  const parsed = parseManifest(mediaType, body);
  return [...parsed.blobs, ...parsed.manifests];
}
