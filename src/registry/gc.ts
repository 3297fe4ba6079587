/**
 * Garbage collection of blobs no manifest references, safe against pushes running at the same
 * time. Marks everything reachable from every manifest of every repository (tagged or not: a
 * manifest goes away only when deleted by digest), then deletes what is unmarked.
 *
 * Why a concurrent push cannot lose a blob it relies on. A push relies on a blob at three points:
 * HEAD (it exists, so the client skips the upload), upload completion (it was just written), and
 * manifest PUT (the registry checks every referenced blob exists). Each goes through `guard()`
 * first, which (1) waits for any deletion of that digest already in progress, so the check after
 * it sees the truth, (2) records the digest as wanted if a collection is running, and (3) lets the
 * caller touch the blob's mtime. The sweep spares blobs that are marked, recorded as wanted, or
 * whose mtime is newer than (collection start − grace), and it starts each deletion synchronously
 * right after those checks (JavaScript runs one handler at a time, so nothing can slip between).
 * So a manifest PUT either sees its blobs deleted and is refused with MANIFEST_BLOB_UNKNOWN, or
 * keeps them: a stored manifest never points at a missing blob. The grace period covers a push
 * whose HEAD came before the collection started but whose manifest came after the mark phase.
 * This holds within one registry process; two processes must not share a data directory.
 */
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { referencesOf } from './manifest.ts';
import type { BlobStore } from './storage/blob-store.ts';
import type { RepoStore } from './storage/repo-store.ts';
import type { Uploads } from './uploads.ts';

export interface GcResult {
  blobsDeleted: number;
  bytesFreed: number;
  blobsKept: number;
  uploadsExpired: number;
  durationMs: number;
}

export class Collector {
  readonly #blobs: BlobStore;
  readonly #repos: RepoStore;
  readonly #uploads: Uploads;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Blobs younger than this at collection start are spared; see the header comment. */
  readonly #graceMs: number;
  /** Digests relied on since the running collection started; null when none runs. */
  #wanted: Set<string> | null = null;
  /** Deletions in progress, by digest. */
  readonly #dying = new Map<string, Promise<void>>();
  #running: Promise<GcResult> | null = null;

  constructor(blobs: BlobStore, repos: RepoStore, uploads: Uploads, clock: Clock, logger: Logger, graceMs: number) {
    this.#blobs = blobs;
    this.#repos = repos;
    this.#uploads = uploads;
    this.#clock = clock;
    this.#logger = logger;
    this.#graceMs = graceMs;
  }

  /** Call before relying on a blob's existence; then check it, and touch it if it exists. */
  async guard(digest: string): Promise<void> {
    const dying = this.#dying.get(digest);
    if (dying !== undefined) await dying;
    this.#wanted?.add(digest);
  }

  /** Runs one collection; a call while one runs gets that one's result. */
  collect(): Promise<GcResult> {
    this.#running ??= this.#collect().finally(() => {
      this.#running = null;
      this.#wanted = null;
    });
    return this.#running;
  }

  async #collect(): Promise<GcResult> {
    const startedMs = this.#clock.now();
    this.#wanted = new Set();
    const uploadsExpired = await this.#uploads.expire();
    const { marked, linksByDigest } = await this.#mark();
    const cutoffMs = startedMs - this.#graceMs;
    let blobsDeleted = 0;
    let bytesFreed = 0;
    let blobsKept = 0;
    for await (const digest of this.#blobs.list()) {
      const info = marked.has(digest) ? null : await this.#blobs.stat(digest);
      // From here to the start of the deletion nothing awaits, so no guard can interleave.
      if (info === null || info.mtimeMs >= cutoffMs || this.#wanted.has(digest)) {
        blobsKept++;
        continue;
      }
      const deletion = this.#delete(digest, linksByDigest.get(digest) ?? []);
      this.#dying.set(digest, deletion);
      await deletion;
      this.#dying.delete(digest);
      blobsDeleted++;
      bytesFreed += info.sizeBytes;
    }
    const result = { blobsDeleted, bytesFreed, blobsKept, uploadsExpired, durationMs: this.#clock.now() - startedMs };
    this.#logger.info(result, 'garbage collection finished');
    return result;
  }

  async #mark(): Promise<{ marked: Set<string>; linksByDigest: Map<string, string[]> }> {
    const marked = new Set<string>();
    const linksByDigest = new Map<string, string[]>();
    for (const repository of await this.#repos.listRepositories()) {
      for (const digest of await this.#repos.listManifests(repository)) {
        const mediaType = await this.#repos.manifestMediaType(repository, digest);
        if (mediaType === null || (await this.#blobs.stat(digest)) === null) continue;
        marked.add(digest);
        for (const ref of referencesOf(mediaType, await this.#blobs.readAll(digest))) marked.add(ref);
      }
      for (const digest of await this.#repos.listBlobLinks(repository)) {
        const repos = linksByDigest.get(digest) ?? [];
        repos.push(repository);
        linksByDigest.set(digest, repos);
      }
    }
    return { marked, linksByDigest };
  }

  async #delete(digest: string, linkedFrom: string[]): Promise<void> {
    await this.#blobs.delete(digest);
    for (const repository of linkedFrom) await this.#repos.unlinkBlob(repository, digest);
  }
}
