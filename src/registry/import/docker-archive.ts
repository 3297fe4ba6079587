/**
 * Import from a `docker save` tarball, in either layout Docker writes: the classic one
 * (`<id>/layer.tar`, `<id>.json`, `manifest.json`, duplicate layers as symlinks) and the newer
 * one whose members are an OCI layout (`blobs/sha256/…`) that also carries `manifest.json`.
 * Both are read through manifest.json. The archive is unpacked to a temp dir first (its
 * manifest.json comes last, so one pass cannot know what it is reading); member paths are
 * confined to that dir and symlinks are resolved inside the archive, never on the host.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ValidationError } from '../../lib/errors.ts';
import { digestOf } from '../digest.ts';
import type { ImageSink, PushedBlob } from '../image-sink.ts';
import { mediaTypes } from '../media-types.ts';
import { imageManifest } from './image-config.ts';

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Symlink hops followed when resolving a member (classic archives use one). */
const symlinkHopsMax = 8;
/** Members in an archive; a docker save of a real image has tens to hundreds. */
const membersMax = 100_000;

export async function importDockerArchive(sink: ImageSink, archivePath: string, repository: string, tag: string, sourceRef?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-docker-archive-'));
  try {
    const symlinks = await extract(archivePath, dir);
    const resolve = (member: string): string => join(dir, resolveMember(member, symlinks));
    const entries = JSON.parse(await readFile(resolve('manifest.json'), 'utf8')) as ArchiveEntry[];
    const entry = chooseEntry(entries, sourceRef, archivePath);
    const layers: { blob: PushedBlob; mediaType: string }[] = [];
    for (const member of entry.Layers) {
      const path = resolve(member);
      const mediaType = await sniffLayerMediaType(path);
      layers.push({ blob: await sink.pushBlob(repository, createReadStream(path)), mediaType });
    }
    const configBody = await readFile(resolve(entry.Config));
    const config = await sink.pushBlob(repository, configBody, digestOf(configBody));
    const manifest = imageManifest(config, mediaTypes.ociConfig, layers);
    return await sink.pushManifest(repository, tag, mediaTypes.ociManifest, manifest);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function chooseEntry(entries: ArchiveEntry[], sourceRef: string | undefined, archivePath: string): ArchiveEntry {
  if (sourceRef === undefined && entries.length === 1) return entries[0]!;
  const found = sourceRef === undefined ? undefined : entries.find((e) => e.RepoTags?.includes(sourceRef));
  if (found !== undefined) return found;
  const tags = entries.flatMap((e) => e.RepoTags ?? []);
  throw new ValidationError(`${archivePath} holds ${entries.length} images; say which (${tags.join(', ') || 'untagged'})`, {
    field: 'ref',
    hint: 'pass one of its repo tags',
  });
}

/** Unpacks regular files; returns symlinks as member → target (both archive-relative). */
async function extract(archivePath: string, dir: string): Promise<Map<string, string>> {
  const symlinks = new Map<string, string>();
  const extractor = tar.extract();
  let members = 0;
  const done = (async () => {
    for await (const entry of extractor) {
      if (++members > membersMax) throw new ValidationError(`archive has more than ${membersMax} members`);
      const name = confine(entry.header.name);
      if (entry.header.type === 'symlink' && entry.header.linkname) {
        symlinks.set(name, posix.join(posix.dirname(name), entry.header.linkname));
      } else if (entry.header.type === 'file' && name !== '') {
        const path = join(dir, name);
        await mkdir(dirname(path), { recursive: true });
        await pipeline(entry, createWriteStream(path));
        continue;
      }
      entry.resume();
    }
  })();
  await Promise.all([pipeline(createReadStream(archivePath), extractor), done]);
  return symlinks;
}

/** An archive member's path made relative and refused if it climbs out. */
function confine(name: string): string {
  const normal = posix.normalize(name.replace(/^\/+/, '')).replace(/\/$/, '');
  if (normal === '..' || normal.startsWith('../')) throw new ValidationError(`archive member '${name}' escapes the archive`);
  return normal;
}

function resolveMember(member: string, symlinks: Map<string, string>): string {
  let current = confine(member);
  for (let hop = 0; hop < symlinkHopsMax; hop++) {
    const target = symlinks.get(current);
    if (target === undefined) return current;
    current = confine(target);
    if (current === '.') throw new ValidationError(`archive member '${member}' points at the archive root`);
  }
  throw new ValidationError(`archive member '${member}' is a symlink loop`);
}

/** Docker writes layers uncompressed, gzip or zstd; the first bytes say which. */
async function sniffLayerMediaType(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b) return mediaTypes.ociLayerGzip;
    if (bytesRead === 4 && buffer.readUInt32LE(0) === 0xfd2fb528) return 'application/vnd.oci.image.layer.v1.tar+zstd';
    return mediaTypes.ociLayerTar;
  } finally {
    await handle.close();
  }
}
