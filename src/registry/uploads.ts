/**
 * Blob upload sessions (POST, PATCH, PUT of the spec). The bytes go to a temp file in
 * `<dataDir>/tmp` while being hashed incrementally, so completing an upload costs one compare,
 * one fsync and one rename, however many chunks it came in. A blob becomes visible only when
 * its digest matched. Sessions live in memory: a restarted registry forgets them and clients
 * start their upload again (the spec lets a registry drop sessions).
 */
import type { Hash } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Clock } from '../lib/clock.ts';
import { randomHex } from '../lib/ids.ts';
import { digestFromHash, newDigester } from './digest.ts';
import { RegistryError } from './errors.ts';
import { organizationOf } from './names.ts';
import type { BlobStore } from './storage/blob-store.ts';

/**
 * Received chunks (≤ 64 KiB each from the socket) are hashed at once and written in batches of
 * this size with one writev, with one batch in flight while the next is received: thousands of
 * small writes through the thread pool cost more CPU than the hashing (measured with skopeo).
 */
const writeBatchBytes = 1024 * 1024;

export interface UploadLimits {
  /** Largest blob accepted. */
  blobBytesMax: number;
  /** Sessions idle longer than this are dropped by `expire()`, which the server runs on a timer. */
  uploadIdleMsMax: number;
  /** Sessions open at once; more are refused with TOOMANYREQUESTS rather than filling the disk. */
  uploadsMax: number;
  /** Sessions one organization may have open, so that no organization can take all of `uploadsMax`. */
  uploadsPerOrgMax: number;
}

export const defaultUploadLimits: UploadLimits = {
  blobBytesMax: 16 * 1024 * 1024 * 1024,
  uploadIdleMsMax: 60 * 60 * 1000,
  uploadsMax: 1024,
  uploadsPerOrgMax: 128,
};

export interface UploadSession {
  readonly id: string;
  readonly repository: string;
  readonly path: string;
  /** Bytes received so far; the next chunk must start here. */
  offset: number;
  hash: Hash;
  /** A chunk is being written; a concurrent one is refused. */
  busy: boolean;
  updatedAtMs: number;
}

export interface ChunkRange {
  start: number;
  end: number;
}

export class Uploads {
  readonly #blobs: BlobStore;
  readonly #clock: Clock;
  readonly #limits: UploadLimits;
  readonly #sessions = new Map<string, UploadSession>();

  constructor(blobs: BlobStore, clock: Clock, limits: UploadLimits) {
    this.#blobs = blobs;
    this.#clock = clock;
    this.#limits = limits;
  }

  async start(repository: string): Promise<UploadSession> {
    const org = organizationOf(repository);
    let orgSessions = 0;
    for (const session of this.#sessions.values()) if (organizationOf(session.repository) === org) orgSessions++;
    if (orgSessions >= this.#limits.uploadsPerOrgMax) {
      throw new RegistryError('TOOMANYREQUESTS', `organization ${org} has too many uploads in progress`, {
        detail: { uploadsPerOrgMax: this.#limits.uploadsPerOrgMax },
        hint: 'finish or cancel uploads, then retry; unfinished ones expire when idle',
      });
    }
    if (this.#sessions.size >= this.#limits.uploadsMax) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many uploads in progress', {
        detail: { uploadsMax: this.#limits.uploadsMax },
        hint: 'finish or cancel uploads, then retry',
      });
    }
    await mkdir(this.#blobs.tmpDir, { recursive: true });
    const id = randomHex(16);
    const session: UploadSession = {
      id,
      repository,
      path: join(this.#blobs.tmpDir, `upload-${id}`),
      offset: 0,
      hash: newDigester(),
      busy: false,
      updatedAtMs: this.#clock.now(),
    };
    this.#sessions.set(id, session);
    return session;
  }

  get(repository: string, id: string): UploadSession {
    const session = this.#sessions.get(id);
    if (session === undefined || session.repository !== repository) throw uploadUnknown(id);
    return session;
  }

  /**
   * Appends a chunk. With a Content-Range it must start at the current offset (else 416 and the
   * Range the client should resume from). A chunk that fails midway ends the session, because the
   * hash and the file could disagree about what was received.
   */
  async append(session: UploadSession, body: Readable, range: ChunkRange | null, contentLength: number | null): Promise<void> {
    if (session.busy || (range !== null && range.start !== session.offset)) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk must start at offset ${session.offset}`, {
        status: 416,
        detail: { offset: session.offset },
        headers: rangeHeaders(session),
      });
    }
    if (range !== null && contentLength !== null && range.end - range.start + 1 !== contentLength) {
      throw new RegistryError('SIZE_INVALID', 'Content-Range and Content-Length disagree', { status: 416, headers: rangeHeaders(session) });
    }
    session.busy = true;
    const startOffset = session.offset;
    try {
      await receive(session, body, this.#limits.blobBytesMax);
    } catch (err) {
      await this.cancel(session);
      throw err;
    }
    session.busy = false;
    session.updatedAtMs = this.#clock.now();
    const received = session.offset - startOffset;
    if (contentLength !== null && received !== contentLength) {
      await this.cancel(session);
      throw new RegistryError('SIZE_INVALID', `received ${received} bytes, Content-Length said ${contentLength}`);
    }
  }

  /**
   * Verifies the digest and moves the blob into the store; the session ends either way, except
   * that completing while a chunk is still arriving is refused and the session kept: the hash
   * covers bytes received, some of which may not be in the file yet.
   */
  async complete(session: UploadSession, digest: string): Promise<number> {
    // Expired or cancelled while the caller awaited something else.
    if (this.#sessions.get(session.id) !== session) throw uploadUnknown(session.id);
    if (session.busy) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `upload ${session.id} is still receiving a chunk`, {
        detail: { uuid: session.id, offset: session.offset },
        headers: rangeHeaders(session),
        hint: 'wait for the PATCH to finish, then complete the upload',
      });
    }
    this.#sessions.delete(session.id);
    try {
      const actual = digestFromHash(session.hash);
      if (actual !== digest) {
        throw new RegistryError('DIGEST_INVALID', `uploaded content has digest ${actual}, not ${digest}`, {
          detail: { expected: digest, actual, sizeBytes: session.offset },
        });
      }
      await syncWholeFile(session);
      await this.#blobs.commit(session.path, digest);
    } catch (err) {
      await rm(session.path, { force: true });
      throw err;
    }
    return session.offset;
  }

  async cancel(session: UploadSession): Promise<void> {
    this.#sessions.delete(session.id);
    await rm(session.path, { force: true });
  }

  /** Drops sessions idle too long; returns how many. */
  async expire(): Promise<number> {
    const cutoff = this.#clock.now() - this.#limits.uploadIdleMsMax;
    let expired = 0;
    for (const session of [...this.#sessions.values()]) {
      // Checked just before each is dropped: clients may have used it during the earlier cancels.
      if (session.busy || session.updatedAtMs >= cutoff || this.#sessions.get(session.id) !== session) continue;
      await this.cancel(session);
      expired++;
    }
    return expired;
  }

  /** Cancels every session (server shutdown). */
  async closeAll(): Promise<void> {
    for (const session of [...this.#sessions.values()]) await this.cancel(session);
  }
}

/**
 * Appends `body` to the session's temp file, hashing as it goes; `session.offset` counts what was
 * received. Rejects (leaving file and hash out of step: the caller ends the session) when the
 * body fails, a write fails, or the blob grows past `bytesMax`.
 */
async function receive(session: UploadSession, body: Readable, bytesMax: number): Promise<void> {
  const file = await open(session.path, 'a');
  let inFlight: Promise<void> = Promise.resolve();
  try {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      session.offset += chunk.length;
      if (session.offset > bytesMax) {
        throw new RegistryError('SIZE_INVALID', `blob exceeds ${bytesMax} bytes`, { status: 413, detail: { blobBytesMax: bytesMax } });
      }
      session.hash.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= writeBatchBytes) {
        await inFlight;
        inFlight = writeAll(file, batch, batchBytes);
        batch = [];
        batchBytes = 0;
      }
    }
    await inFlight;
    if (batchBytes > 0) await writeAll(file, batch, batchBytes);
  } finally {
    // A failed write must not become an unhandled rejection while the body's error is thrown.
    await inFlight.catch(() => undefined);
    await file.close();
  }
}

/**
 * Flushes the session's temp file after checking it holds every byte the hash covers: the hash is
 * what was verified, so a shorter file must never be committed under its digest.
 */
async function syncWholeFile(session: UploadSession): Promise<void> {
  // Opened to append, so a zero-byte blob (whose temp file was never written) gets one too.
  const file = await open(session.path, 'a');
  try {
    const { size } = await file.stat();
    if (size !== session.offset) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `upload ${session.id} has ${size} bytes on disk but received ${session.offset}`, {
        status: 500,
        fault: 'platform',
        detail: { uuid: session.id, offset: session.offset, sizeBytes: size },
        hint: 'start the upload again',
      });
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Writes all of `buffers` (`length` bytes) at the end of the file, however many calls it takes. */
async function writeAll(file: FileHandle, buffers: Buffer[], length: number): Promise<void> {
  const { bytesWritten } = await file.writev(buffers);
  // A short write is rare for regular files; finish it from a copy of what is left.
  let rest = bytesWritten === length ? Buffer.alloc(0) : Buffer.concat(buffers).subarray(bytesWritten);
  while (rest.length > 0) rest = rest.subarray((await file.write(rest)).bytesWritten);
}

function uploadUnknown(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload '${id.slice(0, 64)}' not found`, {
    detail: { uuid: id.slice(0, 64) },
    hint: 'start a new upload with POST /v2/<name>/blobs/uploads/',
  });
}

/** The headers that tell a client where an upload stands. */
export function rangeHeaders(session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${session.repository}/blobs/uploads/${session.id}`,
    Range: `0-${Math.max(session.offset - 1, 0)}`,
    'Docker-Upload-UUID': session.id,
  };
}
