/**
 * Import from a plain root filesystem directory: one gzip layer streamed straight from the tar
 * packer through gzip to the sink (no temp file), with the uncompressed digest (the diff id the
 * config needs) computed on the way, then the config and manifest.
 */
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { digestFromHash, newDigester } from '../digest.ts';
import type { ImageSink } from '../image-sink.ts';
import { mediaTypes } from '../media-types.ts';
import { imageConfig, imageManifest, type RunConfig } from './image-config.ts';
import { tarDirectory, type TarDirectoryOptions } from './tar-directory.ts';

/** gzip level for layers: 6 is zlib's default balance of size and speed. */
const gzipLevel = 6;

export async function importRootfs(
  sink: ImageSink,
  dir: string,
  repository: string,
  tag: string,
  run: RunConfig,
  tarOptions: TarDirectoryOptions = {},
): Promise<string> {
  const diffHash = newDigester();
  const diffHasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      diffHash.update(chunk);
      callback(null, chunk);
    },
  });
  const compressed = pipeline(tarDirectory(dir, tarOptions), diffHasher, createGzip({ level: gzipLevel }), () => {
    // Errors surface through the last stream, which the sink consumes.
  });
  const layer = await sink.pushBlob(repository, compressed);
  const configBody = imageConfig(run, [digestFromHash(diffHash)]);
  const config = await sink.pushBlob(repository, configBody);
  const manifest = imageManifest(config, mediaTypes.ociConfig, [{ blob: layer, mediaType: mediaTypes.ociLayerGzip }]);
  return sink.pushManifest(repository, tag, mediaTypes.ociManifest, manifest);
}
