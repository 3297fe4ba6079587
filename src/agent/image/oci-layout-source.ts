/**
 * An ImageSource over an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`),
 * as written by `skopeo copy … oci:DIR:TAG` or by our tests. A layout holds one repository, so
 * the repository argument is ignored; tags are the `org.opencontainers.image.ref.name` annotations.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../lib/errors.ts';
import { hexOf } from './blob-cache.ts';
import { mediaTypes } from './manifest.ts';
import type { FetchedManifest, ImageSource } from './types.ts';

const refNameAnnotation = 'org.opencontainers.image.ref.name';

interface LayoutIndex {
  manifests?: { mediaType?: string; digest: string; annotations?: Record<string, string> }[];
}

export function ociLayoutSource(dir: string): ImageSource {
  return {
    async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
      let digest = reference;
      let mediaType = '';
      if (!reference.startsWith('sha256:')) {
        const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as LayoutIndex;
        const entry = index.manifests?.find((m) => {
          const name = m.annotations?.[refNameAnnotation];
          return name === reference || name === `${repository}:${reference}`;
        });
        if (entry === undefined) throw new NotFoundError('image', `${repository}:${reference}`, { hint: `no tag '${reference}' in OCI layout ${dir}` });
        digest = entry.digest;
        mediaType = entry.mediaType ?? '';
      }
      const body = await readFile(join(dir, 'blobs', 'sha256', hexOf(digest))).catch((err: unknown) => {
        throw new NotFoundError('manifest', digest, { cause: err });
      });
      const declared = (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType;
      const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      return { mediaType: declared ?? (mediaType || mediaTypes.ociManifest), digest: actual, body };
    },
    async getBlob(_repository: string, digest: string): Promise<Readable> {
      const stream = createReadStream(join(dir, 'blobs', 'sha256', hexOf(digest)));
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', (err) => reject(new NotFoundError('blob', digest, { cause: err })));
      });
      return stream;
    },
  };
}
