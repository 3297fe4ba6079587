/**
 * The registry's operations, independent of HTTP: what a repository may see, pushing and
 * reading manifests, uploads and mounts, tags, referrers, collection. HTTP handlers translate
 * requests into these calls and RegistryErrors into the spec's responses.
 */
import { writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import { randomHex } from '../lib/ids.ts';
import type { Logger } from '../lib/log.ts';
import { assertDigest, digestOf, isDigest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { Collector, type GcResult } from './gc.ts';
import { manifestBytesMax, parseManifest, type Descriptor } from './manifest.ts';
import { mediaTypes } from './media-types.ts';
import { isValidTag, organizationOf } from './names.ts';
import { BlobStore } from './storage/blob-store.ts';
import { fsyncFile, isNotFound } from './storage/fs-durable.ts';
import { RepoStore } from './storage/repo-store.ts';
import { Uploads, type UploadLimits, type UploadSession } from './uploads.ts';

export interface RegistryOptions {
  dataDir: string;
  clock: Clock;
  logger: Logger;
  uploadLimits: UploadLimits;
  gcGraceMs: number;
}

export interface StoredManifest {
  mediaType: string;
  digest: string;
  body: Buffer;
}

/** A manifest reference is a tag or a digest; anything else is refused. */
export function assertReference(reference: string): void {
  if (reference.includes(':')) {
    assertDigest(reference);
    return;
  }
  if (!isValidTag(reference)) {
    throw new RegistryError('MANIFEST_INVALID', `invalid tag '${reference.slice(0, 128)}'`, {
      detail: { reference: reference.slice(0, 128) },
      hint: 'tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}',
    });
  }
}

export class Registry {
  readonly blobs: BlobStore;
  readonly repos: RepoStore;
  readonly uploads: Uploads;
  readonly #collector: Collector;

  constructor(options: RegistryOptions) {
    this.blobs = new BlobStore(options.dataDir);
    this.repos = new RepoStore(options.dataDir);
    this.uploads = new Uploads(this.blobs, options.clock, options.uploadLimits);
    this.#collector = new Collector(this.blobs, this.repos, this.uploads, options.clock, options.logger, options.gcGraceMs);
  }

  /** Size of a blob the repository may serve, or BLOB_UNKNOWN. Touches it: a HEAD often precedes a push that relies on it. */
  async statBlob(repository: string, digest: string, touch: boolean): Promise<number> {
    assertDigest(digest);
    if (touch) await this.#collector.guard(digest);
    const info = (await this.repos.hasBlobLink(repository, digest)) ? await this.blobs.stat(digest) : null;
    if (info === null) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} not found in ${repository}`, { detail: { digest } });
    }
    if (touch) await this.blobs.touch(digest);
    return info.sizeBytes;
  }

  /** Opens a blob statBlob found; the caller closes it. A collection may delete it in between. */
  async openBlob(digest: string): Promise<FileHandle> {
    try {
      return await this.blobs.openRead(digest);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} not found`, { detail: { digest }, cause: err });
    }
  }

  async deleteBlob(repository: string, digest: string): Promise<void> {
    assertDigest(digest);
    if (!(await this.repos.unlinkBlob(repository, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} not found in ${repository}`, { detail: { digest } });
    }
  }

  /**
   * Links a blob from another repository of the same organization. Returns false (the caller
   * then opens a normal upload, as the spec allows) when the source is in another organization
   * or does not have the blob; the caller has already checked the pull permission on `from`.
   */
  async mount(repository: string, digest: string, from: string): Promise<boolean> {
    assertDigest(digest);
    if (organizationOf(from) !== organizationOf(repository)) return false;
    await this.#collector.guard(digest);
    if (!(await this.repos.hasBlobLink(from, digest)) || (await this.blobs.stat(digest)) === null) return false;
    await this.blobs.touch(digest);
    await this.repos.linkBlob(repository, digest);
    return true;
  }

  async completeUpload(session: UploadSession, digest: string): Promise<void> {
    assertDigest(digest);
    await this.#collector.guard(digest);
    await this.uploads.complete(session, digest);
    await this.repos.linkBlob(session.repository, digest);
  }

  async putManifest(repository: string, reference: string, contentType: string, body: Buffer): Promise<{ digest: string; subject: string | null }> {
    assertReference(reference);
    if (body.length > manifestBytesMax) {
      throw new RegistryError('SIZE_INVALID', `manifest exceeds ${manifestBytesMax} bytes`, { status: 413, detail: { manifestBytesMax } });
    }
    const parsed = parseManifest(contentType, body);
    const digest = digestOf(body);
    if (isDigest(reference) && reference !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest has digest ${digest}, not ${reference}`, { detail: { expected: reference, actual: digest } });
    }
    for (const blob of parsed.blobs) await this.#requireBlob(repository, blob);
    for (const child of parsed.manifests) await this.#requireManifest(repository, child);
    await this.#storeManifestBytes(digest, body);
    await this.repos.putManifest(repository, digest, parsed.mediaType);
    if (!isDigest(reference)) await this.repos.putTag(repository, reference, digest);
    if (parsed.subject !== null) {
      const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: body.length };
      if (parsed.artifactType !== null) descriptor.artifactType = parsed.artifactType;
      if (parsed.annotations !== null) descriptor.annotations = parsed.annotations;
      await this.repos.putReferrer(repository, parsed.subject.digest, descriptor);
    }
    return { digest, subject: parsed.subject?.digest ?? null };
  }

  async getManifest(repository: string, reference: string): Promise<StoredManifest> {
    assertReference(reference);
    const digest = isDigest(reference) ? reference : await this.repos.resolveTag(repository, reference);
    const mediaType = digest === null ? null : await this.repos.manifestMediaType(repository, digest);
    if (digest === null || mediaType === null) throw manifestUnknown(repository, reference);
    try {
      return { mediaType, digest, body: await this.blobs.readAll(digest) };
    } catch (err) {
      throw manifestUnknown(repository, reference, err);
    }
  }

  /** By digest: removes the manifest, its tags and its referrer entry. By tag: removes the tag only. */
  async deleteManifest(repository: string, reference: string): Promise<void> {
    assertReference(reference);
    if (!isDigest(reference)) {
      if (!(await this.repos.deleteTag(repository, reference))) throw manifestUnknown(repository, reference);
      return;
    }
    const manifest = await this.getManifest(repository, reference);
    const subject = parseManifest(manifest.mediaType, manifest.body).subject;
    for (const tag of await this.repos.listTags(repository)) {
      if ((await this.repos.resolveTag(repository, tag)) === reference) await this.repos.deleteTag(repository, tag);
    }
    if (subject !== null) await this.repos.deleteReferrer(repository, subject.digest, reference);
    await this.repos.deleteManifest(repository, reference);
  }

  /** Tags after `last` in lexical order, at most `n`; `more` says whether a next page exists. */
  async listTags(repository: string, n: number | null, last: string | null): Promise<{ tags: string[]; more: boolean }> {
    if (!(await this.repos.exists(repository))) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} not found`, { detail: { name: repository } });
    }
    const all = await this.repos.listTags(repository);
    const after = last === null ? all : all.filter((tag) => tag > last);
    if (n === null) return { tags: after, more: false };
    return { tags: after.slice(0, n), more: after.length > n };
  }

  /** The referrers of `subject` as an OCI image index, optionally only those of `artifactType`. */
  async referrers(repository: string, subject: string, artifactType: string | null): Promise<Buffer> {
    assertDigest(subject);
    const all = await this.repos.listReferrers(repository, subject);
    const manifests = artifactType === null ? all : all.filter((d) => d.artifactType === artifactType);
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }));
  }

  gc(): Promise<GcResult> {
    return this.#collector.collect();
  }

  async #requireBlob(repository: string, digest: string): Promise<void> {
    await this.#collector.guard(digest);
    if ((await this.repos.hasBlobLink(repository, digest)) && (await this.blobs.stat(digest)) !== null) {
      await this.blobs.touch(digest);
      return;
    }
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references blob ${digest}, which ${repository} does not have`, {
      detail: { digest },
      hint: 'push the blobs before the manifest',
    });
  }

  async #requireManifest(repository: string, digest: string): Promise<void> {
    await this.#collector.guard(digest);
    if ((await this.repos.manifestMediaType(repository, digest)) !== null && (await this.blobs.stat(digest)) !== null) return;
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `index references manifest ${digest}, which ${repository} does not have`, {
      detail: { digest },
      hint: 'push the child manifests before the index',
    });
  }

  async #storeManifestBytes(digest: string, body: Buffer): Promise<void> {
    await this.#collector.guard(digest);
    const temp = join(this.blobs.tmpDir, `manifest-${randomHex(12)}`);
    await writeFile(temp, body);
    await fsyncFile(temp);
    await this.blobs.commit(temp, digest);
  }
}

function manifestUnknown(repository: string, reference: string, cause?: unknown): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${repository}`, {
    detail: { name: repository, reference },
    ...(cause === undefined ? {} : { cause }),
  });
}
