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
   * Moves a verified, fsynced temp file into place, over the blob if it already exists: the new
   * copy was just verified and the old one is trusted by nobody (a damaged copy would otherwise
   * be served to everyone forever). Readers holding the old file keep reading it; the fresh
   * mtime tells the collector the blob is wanted.
   */
  async commit(tempPath: string, digest: string): Promise<void> {
    // The temp file's time is its last PATCH's, which may be older than the collector's grace period.
    const now = new Date();
    await utimes(tempPath, now, now);
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
