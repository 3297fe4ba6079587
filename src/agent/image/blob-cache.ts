/**
 * Content-addressed blob files: each digest is downloaded at most once (concurrent requests for
 * the same digest share one download), verified against its sha256 while it streams to a
 * temporary file, and renamed into place only when it matches, so a crash or a corrupt
 * download never leaves a wrong file under a digest's name.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PlatformError } from '../../lib/errors.ts';
import { randomHex } from '../../lib/ids.ts';
import type { ImageSource } from './types.ts';

/** A single blob larger than this is refused: no sane layer is, and it would fill the disk. */
export const blobSizeBytesMax = 16 * 1024 * 1024 * 1024;

export class BlobCache {
  private readonly dir: string;
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Path where `digest`'s verified content lives (it may not exist yet). */
  pathOf(digest: string): string {
    return join(this.dir, 'sha256', hexOf(digest));
  }

  /** Ensures `digest` is in the cache, fetching it from `source` once; resolves with its path. May be called concurrently. */
  ensure(source: ImageSource, repository: string, digest: string): Promise<string> {
    const pending = this.inflight.get(digest);
    if (pending !== undefined) return pending;
    const work = this.fetch(source, repository, digest).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, work);
    return work;
  }

  private async fetch(source: ImageSource, repository: string, digest: string): Promise<string> {
    const final = this.pathOf(digest);
    if (await exists(final)) return final;
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    const tmp = join(this.dir, 'sha256', `.tmp-${hexOf(digest)}-${randomHex(4)}`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        if (sizeBytes > blobSizeBytesMax) {
          callback(new PlatformError('blob_too_large', `blob ${digest} is larger than ${blobSizeBytesMax} bytes`));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      const body = await source.getBlob(repository, digest);
      await pipeline(body, meter, createWriteStream(tmp, { mode: 0o644 }));
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) {
        throw new PlatformError('blob_digest_mismatch', `blob ${digest} from ${repository} has digest ${actual}`, {
          details: { expected: digest, actual, repository },
        });
      }
      await rename(tmp, final);
      return final;
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

export function hexOf(digest: string): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new PlatformError('digest_invalid', `'${digest}' is not a sha256 digest`);
  return digest.slice('sha256:'.length);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
