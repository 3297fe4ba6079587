/**
 * Per-repository metadata on disk, under `<dataDir>/repositories/<name>/`:
 *   _layers/<hex>                   a blob this repository may serve (empty marker file)
 *   _manifests/revisions/<hex>      a manifest in this repository; content = its media type
 *   _manifests/tags/<tag>           content = the digest the tag points at
 *   _referrers/<subject hex>/<hex>  content = the descriptor of a manifest whose subject is <subject>
 * Names cannot contain a component starting with `_`, so these never collide with nested names.
 * The bytes themselves live once in the BlobStore.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../../lib/ids.ts';
import { digestHex } from '../digest.ts';
import type { Descriptor } from '../manifest.ts';
import { isNotFound, writeFileAtomic } from './fs-durable.ts';

/** Repositories nested deeper than this are not walked by listings (names are ≤ 255 bytes anyway). */
const repositoryDepthMax = 64;

export class RepoStore {
  readonly root: string;
  readonly tmpDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'repositories');
    this.tmpDir = join(dataDir, 'tmp');
  }

  #dir(repository: string): string {
    return join(this.root, ...repository.split('/'));
  }

  #layerPath(repository: string, digest: string): string {
    return join(this.#dir(repository), '_layers', digestHex(digest));
  }

  #revisionPath(repository: string, digest: string): string {
    return join(this.#dir(repository), '_manifests', 'revisions', digestHex(digest));
  }

  #tagPath(repository: string, tag: string): string {
    return join(this.#dir(repository), '_manifests', 'tags', tag);
  }

  #referrersDir(repository: string, subject: string): string {
    return join(this.#dir(repository), '_referrers', digestHex(subject));
  }

  async exists(repository: string): Promise<boolean> {
    return pathExists(this.#dir(repository));
  }

  // Blob links. An empty file is enough: its existence is the fact. Not fsynced on purpose:
  // losing a link in a crash only makes a client upload the blob again.

  async linkBlob(repository: string, digest: string): Promise<void> {
    const path = this.#layerPath(repository, digest);
    await mkdir(join(this.#dir(repository), '_layers'), { recursive: true });
    await writeFile(path, '');
  }

  async hasBlobLink(repository: string, digest: string): Promise<boolean> {
    return pathExists(this.#layerPath(repository, digest));
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const existed = await this.hasBlobLink(repository, digest);
    await rm(this.#layerPath(repository, digest), { force: true });
    return existed;
  }

  async listBlobLinks(repository: string): Promise<string[]> {
    return (await listDir(join(this.#dir(repository), '_layers'))).map((hex) => `sha256:${hex}`);
  }

  // Manifests and tags are fsynced: a pushed manifest the client was told about must survive.

  async putManifest(repository: string, digest: string, mediaType: string): Promise<void> {
    await writeFileAtomic(this.#revisionPath(repository, digest), this.#temp(), mediaType);
  }

  /** The media type of a manifest in this repository, or null. */
  async manifestMediaType(repository: string, digest: string): Promise<string | null> {
    try {
      return await readFile(this.#revisionPath(repository, digest), 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<void> {
    await rm(this.#revisionPath(repository, digest), { force: true });
  }

  async listManifests(repository: string): Promise<string[]> {
    return (await listDir(join(this.#dir(repository), '_manifests', 'revisions'))).map((hex) => `sha256:${hex}`);
  }

  async putTag(repository: string, tag: string, digest: string): Promise<void> {
    await writeFileAtomic(this.#tagPath(repository, tag), this.#temp(), digest);
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    try {
      return (await readFile(this.#tagPath(repository, tag), 'utf8')).trim();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const existed = (await this.resolveTag(repository, tag)) !== null;
    await rm(this.#tagPath(repository, tag), { force: true });
    return existed;
  }

  /** Tags in lexical order. */
  async listTags(repository: string): Promise<string[]> {
    return (await listDir(join(this.#dir(repository), '_manifests', 'tags'))).sort();
  }

  // Referrers: an index of manifests by subject, kept at push so the API is one directory read.

  async putReferrer(repository: string, subject: string, descriptor: Descriptor): Promise<void> {
    const path = join(this.#referrersDir(repository, subject), digestHex(descriptor.digest));
    await writeFileAtomic(path, this.#temp(), JSON.stringify(descriptor));
  }

  async deleteReferrer(repository: string, subject: string, digest: string): Promise<void> {
    await rm(join(this.#referrersDir(repository, subject), digestHex(digest)), { force: true });
  }

  async listReferrers(repository: string, subject: string): Promise<Descriptor[]> {
    const dir = this.#referrersDir(repository, subject);
    const out: Descriptor[] = [];
    for (const hex of (await listDir(dir)).sort()) {
      try {
        out.push(JSON.parse(await readFile(join(dir, hex), 'utf8')) as Descriptor);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }

  /** Every repository name, for garbage collection. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, parts: string[]): Promise<void> => {
      if (parts.length > repositoryDepthMax) return;
      const entries = await listDir(dir);
      if (parts.length > 0 && entries.some((e) => e.startsWith('_'))) out.push(parts.join('/'));
      for (const entry of entries) {
        if (!entry.startsWith('_')) await walk(join(dir, entry), [...parts, entry]);
      }
    };
    await walk(this.root, []);
    return out.sort();
  }

  #temp(): string {
    return join(this.tmpDir, `meta-${randomHex(12)}`);
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}
