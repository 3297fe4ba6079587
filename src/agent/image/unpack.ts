/**
 * Unpacks one layer tarball (gzip or uncompressed) into its own directory, once per digest.
 *
 * Whiteouts are kept two ways: always in `meta.json` (so a copy-mode root filesystem can apply
 * them without root), and as root also in overlayfs's own format (a 0/0 character device for
 * `.wh.NAME`, the `trusted.overlay.opaque` xattr for `.wh..wh..opq`) so the layer directory can
 * be an overlay lowerdir as is. Entries may not escape the layer directory, neither by `..` nor
 * through a symlink unpacked earlier.
 */
import { createReadStream } from 'node:fs';
import { chmod, chown, lchown, link, lstat, mkdir, open, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { PlatformError } from '../../lib/errors.ts';
import { mustRun } from '../runtime/command.ts';

/** A layer with more entries than this is refused rather than unpacked for minutes. */
export const layerEntryCountMax = 1_000_000;
const whiteoutPrefix = '.wh.';
const opaqueMarker = '.wh..wh..opq';

/** What a layer removes from the layers below it; paths are relative to the root, no leading slash. */
export interface LayerMeta {
  whiteouts: string[];
  opaqueDirs: string[];
}

export interface UnpackOptions {
  /** Running as root: keep ownership, make device nodes and overlay-format whiteouts. */
  root: boolean;
}

/** Unpacks the tarball at `blobPath` into `fsDir` (which must be empty) and returns its whiteouts. */
export async function unpackLayer(blobPath: string, fsDir: string, options: UnpackOptions): Promise<LayerMeta> {
  await mkdir(fsDir, { recursive: true });
  const unpacker = new LayerUnpacker(fsDir, options);
  const tar = extract();
  const source = createReadStream(blobPath);
  const feeding = (await isGzip(blobPath)) ? pipeline(source, createGunzip(), tar) : pipeline(source, tar);
  let entries = 0;
  try {
    for await (const entry of tar) {
      entries += 1;
      if (entries > layerEntryCountMax) throw layerError(`layer has more than ${layerEntryCountMax} entries`);
      await unpacker.entry(entry.header, entry);
    }
    await feeding;
  } catch (err) {
    source.destroy();
    await feeding.catch(() => undefined);
    throw err;
  }
  await unpacker.finish();
  return unpacker.meta;
}

class LayerUnpacker {
  readonly meta: LayerMeta = { whiteouts: [], opaqueDirs: [] };
  private readonly dir: string;
  private readonly root: boolean;
  /** Directories (relative) known to be real directories inside the layer, so parents are checked once. */
  private readonly safeDirs = new Set<string>(['']);
  /** Modes applied after all entries, deepest first, so a read-only directory does not block its children. */
  private readonly dirModes: { rel: string; mode: number }[] = [];

  constructor(dir: string, options: UnpackOptions) {
    this.dir = dir;
    this.root = options.root;
  }

  async entry(header: Header, body: AsyncIterable<unknown> & { resume(): unknown }): Promise<void> {
    const rel = normalize(header.name);
    const base = posix.basename(rel);
    if (rel === '') {
      body.resume();
      return;
    }
    await this.ensureParent(rel);
    const path = join(this.dir, rel);
    if (base === opaqueMarker) {
      body.resume();
      const dirRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      this.meta.opaqueDirs.push(dirRel);
      if (this.root) await mustRun('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(this.dir, dirRel)]);
      return;
    }
    if (base.startsWith(whiteoutPrefix)) {
      body.resume();
      const target = posix.join(posix.dirname(rel), base.slice(whiteoutPrefix.length));
      this.meta.whiteouts.push(target);
      if (this.root) {
        await rm(join(this.dir, target), { recursive: true, force: true });
        await mustRun('mknod', [join(this.dir, target), 'c', '0', '0']);
      }
      return;
    }
    const mode = (header.mode ?? 0o644) & 0o7777;
    switch (header.type) {
      case 'directory':
        await this.directory(rel, path, mode);
        body.resume();
        return;
      case 'file':
      case 'contiguous-file':
        await replaceable(path);
        await writeEntry(path, body);
        await this.own(path, header, false);
        await chmod(path, this.root ? mode : mode | 0o600);
        if (header.mtime !== undefined) await utimes(path, header.mtime, header.mtime);
        return;
      case 'symlink':
        body.resume();
        await replaceable(path);
        await symlink(header.linkname ?? '', path);
        await this.own(path, header, true);
        return;
      case 'link': {
        body.resume();
        const target = normalize(header.linkname ?? '');
        await replaceable(path);
        try {
          await link(join(this.dir, target), path);
        } catch (err) {
          throw layerError(`hardlink ${rel} -> ${target}: ${(err as Error).message}`, err);
        }
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        body.resume();
        // Device nodes need root; unprivileged copies go without them (the process driver uses the host's /dev).
        if (!this.root) return;
        await replaceable(path);
        await mustRun('mknod', ['-m', mode.toString(8), path, ...nodeType(header)]);
        await this.own(path, header, true);
        return;
      default:
        body.resume();
    }
  }

  async finish(): Promise<void> {
    this.dirModes.sort((a, b) => b.rel.length - a.rel.length);
    for (const { rel, mode } of this.dirModes) await chmod(join(this.dir, rel), this.root ? mode : mode | 0o700);
  }

  private async directory(rel: string, path: string, mode: number): Promise<void> {
    const st = await lstat(path).catch(() => null);
    if (st !== null && !st.isDirectory()) await rm(path, { force: true });
    if (st === null || !st.isDirectory()) await mkdir(path, { mode: 0o755 });
    this.safeDirs.add(rel);
    this.dirModes.push({ rel, mode });
  }

  /** Creates missing parents and refuses to go through anything that is not a real directory. */
  private async ensureParent(rel: string): Promise<void> {
    const parts = rel.split('/');
    let prefix = '';
    for (const part of parts.slice(0, -1)) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.safeDirs.has(prefix)) continue;
      const st = await lstat(join(this.dir, prefix)).catch(() => null);
      if (st === null) await mkdir(join(this.dir, prefix), { mode: 0o755 });
      else if (!st.isDirectory()) throw layerError(`entry ${rel} goes through ${prefix}, which is not a directory`);
      this.safeDirs.add(prefix);
    }
  }

  private async own(path: string, header: Header, noFollow: boolean): Promise<void> {
    if (!this.root) return;
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    await (noFollow ? lchown(path, uid, gid) : chown(path, uid, gid));
  }
}

/** Writes a layer's whiteouts next to its content. */
export async function writeLayerMeta(path: string, meta: LayerMeta): Promise<void> {
  await writeFile(path, JSON.stringify(meta));
}

/** Layer paths are relative to the image root; anything that would climb out is refused. */
function normalize(name: string): string {
  const clean = posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
  if (clean.split('/').includes('..')) throw layerError(`entry '${name}' escapes the layer`);
  return clean;
}

/** Removes whatever is at `path` so a later layer entry replaces it, as tar does. */
async function replaceable(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (st !== null) await rm(path, { recursive: true, force: true });
}

async function writeEntry(path: string, body: AsyncIterable<unknown>): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of body) await handle.write(chunk as Uint8Array);
  } finally {
    await handle.close();
  }
}

function nodeType(header: Header): string[] {
  if (header.type === 'fifo') return ['p'];
  return [header.type === 'block-device' ? 'b' : 'c', String(header.devmajor ?? 0), String(header.devminor ?? 0)];
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    if (bytesRead >= 4 && magic.readUInt32BE(0) === 0x28b52ffd) throw layerError('zstd-compressed layers are not supported yet');
    return bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function layerError(message: string, cause?: unknown): PlatformError {
  return new PlatformError('layer_invalid', `image layer: ${message}`, cause === undefined ? {} : { cause });
}
