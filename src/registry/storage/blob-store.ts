/**
 * The content-addressed store: every blob and manifest once, by digest, under
 * `<dataDir>/blobs/sha256/<2 hex>/<64 hex>`. Files appear only by rename of a complete, fsynced,
 * verified temp file from `<dataDir>/tmp`, so a reader never sees a partial blob.
 * Which repository may see which blob is the repository store's business, not this one's.
 */
import { open, readdir, readFile, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from '../digest.ts';
import { isNotFound, renameDurable } from './fs-durable.ts';

export interface BlobInfo {
  sizeBytes: number;
  /** Last write or touch, ms since the epoch; garbage collection spares recent blobs. */
  mtimeMs: number;
}

export class BlobStore {
  readonly root: string;
  readonly tmpDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'blobs', 'sha256');
    this.tmpDir = join(dataDir, 'tmp');
  }

  pathOf(digest: string): string {
    const hex = digestHex(digest);
    return join(this.root, hex.slice(0, 2), hex);
  }

  async stat(digest: string): Promise<BlobInfo | null> {
    try {
      const info = await stat(this.pathOf(digest));
      return { sizeBytes: info.size, mtimeMs: info.mtimeMs };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Opens a blob for reading; the caller closes the handle. Rejects with ENOENT if it is gone. */
  async openRead(digest: string): Promise<FileHandle> {
    return open(this.pathOf(digest), 'r');
  }

  async readAll(digest: string): Promise<Buffer> {
    return readFile(this.pathOf(digest));
  }

  /**
   * Moves a verified, fsynced temp file into place. If the blob already exists the temp file is
   * dropped and the blob touched: identical content, and the touch tells the collector it is wanted.
   */
  async commit(tempPath: string, digest: string): Promise<void> {
    if ((await this.stat(digest)) !== null) {
      await rm(tempPath, { force: true });
      await this.touch(digest);
      return;
    }
    await renameDurable(tempPath, this.pathOf(digest));
  }

  async touch(digest: string): Promise<void> {
    const now = new Date();
    try {
      await utimes(this.pathOf(digest), now, now);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async delete(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  /** Every stored digest, for garbage collection. */
  async *list(): AsyncGenerator<string> {
    let prefixes: string[];
    try {
      prefixes = await readdir(this.root);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const prefix of prefixes.sort()) {
      for (const hex of (await readdir(join(this.root, prefix))).sort()) {
        if (/^[a-f0-9]{64}$/.test(hex)) yield `sha256:${hex}`;
      }
    }
  }
}
