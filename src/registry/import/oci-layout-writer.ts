/**
 * An ImageSink that writes an OCI image layout directory (`oci-layout`, `index.json`,
 * `blobs/sha256/…`), which skopeo, containerd and the importer read as `oci:DIR:tag`. Blobs are
 * hashed while written and renamed into place only when complete and verified. Not safe for
 * concurrent pushManifest calls on one directory (index.json is rewritten whole).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomHex } from '../../lib/ids.ts';
import { digestFromHash, digestHex, newDigester } from '../digest.ts';
import { RegistryError } from '../errors.ts';
import type { ImageSink, PushedBlob } from '../image-sink.ts';
import { isNotFound, renameDurable, writeFileAtomic } from '../storage/fs-durable.ts';
import { refNameAnnotation, type LayoutIndex } from './oci-layout.ts';

export class OciLayoutWriter implements ImageSink {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  async hasBlob(_repository: string, digest: string): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async pushBlob(_repository: string, data: Readable | Buffer, digest?: string): Promise<PushedBlob> {
    await this.#init();
    const temp = join(this.dir, `.tmp-${randomHex(12)}`);
    const hash = newDigester();
    let sizeBytes = 0;
    try {
      await pipeline(
        Buffer.isBuffer(data) ? Readable.from([data]) : data,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            sizeBytes += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(temp),
      );
      const actual = digestFromHash(hash);
      if (digest !== undefined && digest !== actual) {
        throw new RegistryError('DIGEST_INVALID', `blob has digest ${actual}, not ${digest}`, { detail: { expected: digest, actual } });
      }
      await renameDurable(temp, this.blobPath(actual));
      return { digest: actual, sizeBytes };
    } finally {
      await rm(temp, { force: true });
    }
  }

  async pushManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const { digest } = await this.pushBlob(repository, body);
    const index = await this.#readIndex();
    const isTag = !reference.startsWith('sha256:');
    const kept = index.manifests.filter((m) => !(isTag && m.annotations?.[refNameAnnotation] === reference) && m.digest !== digest);
    kept.push({ mediaType, digest, size: body.length, ...(isTag ? { annotations: { [refNameAnnotation]: reference } } : {}) });
    await writeFileAtomic(join(this.dir, 'index.json'), join(this.dir, `.tmp-${randomHex(12)}`), JSON.stringify({ ...index, manifests: kept }));
    return digest;
  }

  async #init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  async #readIndex(): Promise<LayoutIndex> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as LayoutIndex;
    } catch (err) {
      if (isNotFound(err)) return { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
      throw err;
    }
  }
}
