/**
 * Import from an OCI image layout directory: pick one manifest from its index.json (by ref name
 * or because it is the only one), then copy it and everything it references, children before
 * parents, so the registry accepts each manifest when it arrives. Every blob is checked against
 * its descriptor's digest on the way.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../lib/errors.ts';
import { digestHex, digestOf, isDigest } from '../digest.ts';
import type { ImageSink } from '../image-sink.ts';
import type { Descriptor } from '../manifest.ts';
import { isIndexMediaType } from '../media-types.ts';

export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** Nesting of indexes inside indexes we follow before refusing (real images use 1–2). */
const indexDepthMax = 8;

export interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export async function importOciLayout(sink: ImageSink, dir: string, repository: string, tag: string, sourceRef?: string): Promise<string> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as LayoutIndex;
  const chosen = chooseManifest(index.manifests, sourceRef, dir);
  return copyManifest(sink, dir, repository, chosen, tag, 0);
}

function chooseManifest(manifests: Descriptor[], sourceRef: string | undefined, dir: string): Descriptor {
  if (sourceRef !== undefined) {
    const found = manifests.find((m) => m.annotations?.[refNameAnnotation] === sourceRef || m.digest === sourceRef);
    if (found !== undefined) return found;
  } else if (manifests.length === 1) {
    return manifests[0]!;
  }
  const names = manifests.map((m) => m.annotations?.[refNameAnnotation] ?? m.digest);
  throw new ValidationError(`the OCI layout at ${dir} has ${manifests.length} images; say which (${names.join(', ') || 'none'})`, {
    field: 'ref',
    hint: 'pass the image ref name, e.g. PATH:latest',
  });
}

async function copyManifest(sink: ImageSink, dir: string, repository: string, descriptor: Descriptor, reference: string, depth: number): Promise<string> {
  if (depth > indexDepthMax) throw new ValidationError(`indexes nested deeper than ${indexDepthMax} in ${dir}`);
  if (!isDigest(descriptor.digest)) throw new ValidationError(`unsupported digest ${descriptor.digest} in ${dir}`);
  const body = await readFile(blobPath(dir, descriptor.digest));
  if (digestOf(body) !== descriptor.digest) throw new ValidationError(`manifest ${descriptor.digest} in ${dir} is corrupt (digest mismatch)`);
  const json = JSON.parse(body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  const mediaType = descriptor.mediaType || json.mediaType || '';
  if (isIndexMediaType(mediaType)) {
    for (const child of json.manifests ?? []) await copyManifest(sink, dir, repository, child, child.digest, depth + 1);
  } else {
    for (const blob of [json.config, ...(json.layers ?? [])]) {
      if (blob === undefined || (blob.urls?.length ?? 0) > 0) continue;
      if (!(await sink.hasBlob(repository, blob.digest))) {
        await sink.pushBlob(repository, createReadStream(blobPath(dir, blob.digest)), blob.digest);
      }
    }
  }
  return sink.pushManifest(repository, reference, mediaType, body);
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}
