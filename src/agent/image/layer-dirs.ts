/**
 * Unpacked layers: `<dir>/<hex>/fs` holds a layer's files and `<dir>/<hex>/meta.json` its
 * whiteouts. Each digest is unpacked once: concurrent requests share the work, and the result is
 * built under a temporary name and renamed into place, so a half-unpacked layer is never used.
 */
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../lib/errors.ts';
import { randomHex } from '../../lib/ids.ts';
import { exists, hexOf } from './blob-cache.ts';
import { unpackLayer, writeLayerMeta, type LayerMeta, type UnpackOptions } from './unpack.ts';

export class LayerDirs {
  private readonly dir: string;
  private readonly options: UnpackOptions;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(dir: string, options: UnpackOptions) {
    this.dir = dir;
    this.options = options;
  }

  /** Directory with the files of layer `digest` (exists once `ensure` resolved). */
  fsDir(digest: string): string {
    return join(this.dir, hexOf(digest), 'fs');
  }

  async meta(digest: string): Promise<LayerMeta> {
    try {
      return JSON.parse(await readFile(join(this.dir, hexOf(digest), 'meta.json'), 'utf8')) as LayerMeta;
    } catch (err) {
      throw new PlatformError('layer_missing', `layer ${digest} is not unpacked on this host`, { cause: err, hint: 'pull the image again' });
    }
  }

  /** Unpacks the blob at `blobPath` as layer `digest` unless already done. May be called concurrently. */
  ensure(digest: string, blobPath: string): Promise<void> {
    const pending = this.inflight.get(digest);
    if (pending !== undefined) return pending;
    const work = this.unpack(digest, blobPath).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, work);
    return work;
  }

  private async unpack(digest: string, blobPath: string): Promise<void> {
    const final = join(this.dir, hexOf(digest));
    if (await exists(join(final, 'meta.json'))) return;
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.tmp-${hexOf(digest)}-${randomHex(4)}`);
    try {
      const meta = await unpackLayer(blobPath, join(tmp, 'fs'), this.options);
      // meta.json is written last: its presence is what marks a layer as complete.
      await writeLayerMeta(join(tmp, 'meta.json'), meta);
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
