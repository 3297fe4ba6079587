/**
 * The agent's ImageStore: resolves references through an ImageSource, keeps blobs and unpacked
 * layers once per digest under `<dataDir>/images/`, and gives each machine its own writable root.
 *
 * Layout under dataDir: `blobs/sha256/<hex>` (verified downloads), `layers/<hex>/` (unpacked),
 * `resolved/<hex>.json` (a pulled manifest's ResolvedImage, so a pull by digest works with the
 * registry down), `rootfs/<machineId>/` (per-machine roots).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PlatformError } from '../../lib/errors.ts';
import { randomHex } from '../../lib/ids.ts';
import { silentLogger } from '../../lib/log.ts';
import { BlobCache, hexOf } from './blob-cache.ts';
import { LayerDirs } from './layer-dirs.ts';
import { parseImageConfig, parseManifest, pickPlatform } from './manifest.ts';
import { parseImageRef, formatImageRef } from './reference.ts';
import { copyLayers, listMachineDirs, mountOverlay, removeRootfs, type LayerView } from './rootfs.ts';
import type { FetchedManifest, ImageRef, ImageSource, ImageStore, ResolvedImage } from './types.ts';

/** Layers fetched at once per pull: enough to fill a link, few enough not to starve other pulls. */
const layerFetchConcurrency = 3;
const machineIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface ImageStoreOptions {
  /** Root of the store; everything it writes is below `<dataDir>/images`. */
  dataDir: string;
  source: ImageSource;
  /** Overlay mounts and ownership (needs root); defaults to whether this process is root. */
  root?: boolean;
  /** Registry for references that name none. */
  defaultRegistry?: string;
  logger?: Logger;
}

export class LocalImageStore implements ImageStore {
  private readonly dir: string;
  private readonly source: ImageSource;
  private readonly root: boolean;
  private readonly defaultRegistry: string | undefined;
  private readonly log: Logger;
  private readonly blobs: BlobCache;
  private readonly layers: LayerDirs;
  private readonly pulls = new Map<string, Promise<ResolvedImage>>();

  constructor(options: ImageStoreOptions) {
    this.dir = join(options.dataDir, 'images');
    this.source = options.source;
    this.root = options.root ?? process.getuid?.() === 0;
    this.defaultRegistry = options.defaultRegistry;
    this.log = options.logger ?? silentLogger();
    this.blobs = new BlobCache(join(this.dir, 'blobs'));
    this.layers = new LayerDirs(join(this.dir, 'layers'), { root: this.root });
  }

  /** Pulls `ref`; concurrent pulls of the same reference share one pull. */
  pull(ref: string): Promise<ResolvedImage> {
    const parsed = parseImageRef(ref, this.defaultRegistry === undefined ? {} : { registry: this.defaultRegistry });
    const key = formatImageRef(parsed);
    const pending = this.pulls.get(key);
    if (pending !== undefined) return pending;
    const work = this.pullParsed(parsed).finally(() => this.pulls.delete(key));
    this.pulls.set(key, work);
    return work;
  }

  async prepareRootfs(machineId: string, image: ResolvedImage): Promise<string> {
    checkMachineId(machineId);
    const views: LayerView[] = [];
    for (const digest of image.layers) views.push({ fsDir: this.layers.fsDir(digest), meta: await this.layers.meta(digest) });
    const dir = join(this.dir, 'rootfs');
    return this.root ? mountOverlay(dir, machineId, views) : copyLayers(dir, machineId, views);
  }

  async releaseRootfs(machineId: string): Promise<void> {
    checkMachineId(machineId);
    await removeRootfs(join(this.dir, 'rootfs'), machineId);
  }

  listRootfs(): Promise<string[]> {
    return listMachineDirs(join(this.dir, 'rootfs'));
  }

  private async pullParsed(ref: ImageRef): Promise<ResolvedImage> {
    if (ref.digest !== null) {
      const cached = await this.cachedResolution(ref.digest);
      if (cached !== null) return { ...cached, ref };
    }
    const started = performance.now();
    let manifest = await this.manifest(ref.repository, ref.digest ?? ref.tag!, ref.digest);
    let parsed = parseManifest(manifest.body, manifest.mediaType);
    if (parsed.kind === 'index') {
      const entry = pickPlatform(parsed.manifests);
      manifest = await this.manifest(ref.repository, entry.digest, entry.digest);
      parsed = parseManifest(manifest.body, manifest.mediaType);
      if (parsed.kind === 'index') throw new PlatformError('image_manifest_invalid', `index ${entry.digest} points at another index`);
    }
    const configPath = await this.blobs.ensure(this.source, ref.repository, parsed.config.digest);
    const config = parseImageConfig(await readFile(configPath));
    const layers = parsed.layers;
    for (let i = 0; i < layers.length; i += layerFetchConcurrency) {
      // allSettled: a failed layer must not leave its siblings writing after pull() has rejected.
      const results = await Promise.allSettled(
        layers.slice(i, i + layerFetchConcurrency).map(async (layer) => {
          const blobPath = await this.blobs.ensure(this.source, ref.repository, layer.digest);
          await this.layers.ensure(layer.digest, blobPath);
        }),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
    const resolved: ResolvedImage = {
      ref,
      digest: manifest.digest,
      config,
      layers: layers.map((l) => l.digest),
      sizeBytes: layers.reduce((sum, l) => sum + l.size, 0),
    };
    await this.remember(resolved);
    this.log.info({ image: formatImageRef(ref), digest: resolved.digest, layers: layers.length, ms: Math.round(performance.now() - started) }, 'image pulled');
    return resolved;
  }

  /** Fetches a manifest and checks its body against the digest it was asked by (when asked by digest). */
  private async manifest(repository: string, reference: string, expected: string | null): Promise<FetchedManifest> {
    const fetched = await this.source.getManifest(repository, reference);
    const actual = `sha256:${createHash('sha256').update(fetched.body).digest('hex')}`;
    if (expected !== null && actual !== expected) {
      throw new PlatformError('manifest_digest_mismatch', `manifest ${repository}@${expected} has digest ${actual}`, { details: { expected, actual } });
    }
    return { ...fetched, digest: actual };
  }

  private async cachedResolution(digest: string): Promise<ResolvedImage | null> {
    try {
      const image = JSON.parse(await readFile(join(this.dir, 'resolved', `${hexOf(digest)}.json`), 'utf8')) as ResolvedImage;
      for (const layer of image.layers) await this.layers.meta(layer);
      return image;
    } catch {
      return null;
    }
  }

  private async remember(image: ResolvedImage): Promise<void> {
    const dir = join(this.dir, 'resolved');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.tmp-${randomHex(4)}`);
    await writeFile(tmp, JSON.stringify(image));
    await rename(tmp, join(dir, `${hexOf(image.digest)}.json`));
  }
}

/** Machine ids become directory names; anything that could climb out of the store is refused. */
function checkMachineId(machineId: string): void {
  if (!machineIdPattern.test(machineId)) throw new PlatformError('machine_id_invalid', `machine id '${machineId.slice(0, 80)}' cannot name a directory`);
}
