/**
 * `aloft images import PATH`: recognise what PATH is and import it. A directory with an
 * `oci-layout` file is an OCI image layout; any other directory is a root filesystem; a file is
 * a `docker save` tarball.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../lib/errors.ts';
import { isNotFound } from '../storage/fs-durable.ts';
import type { ImageSink } from '../image-sink.ts';
import { assertRepositoryName, isValidTag } from '../names.ts';
import { importDockerArchive } from './docker-archive.ts';
import type { RunConfig } from './image-config.ts';
import { importOciLayout } from './oci-layout.ts';
import { importRootfs } from './rootfs.ts';
import type { TarDirectoryOptions } from './tar-directory.ts';

export type ImportKind = 'oci-layout' | 'docker-archive' | 'rootfs';

export interface ImportOptions {
  repository: string;
  tag: string;
  /** Which image of a layout or archive holding several (ref name or repo tag). */
  sourceRef?: string;
  /** For a root filesystem: how the image runs. Ignored for the other kinds (their config is kept). */
  run?: RunConfig;
  /** For a root filesystem: ownership and timestamps of the packed files. */
  tar?: TarDirectoryOptions;
}

export interface ImportResult {
  kind: ImportKind;
  /** Digest of the pushed manifest. */
  digest: string;
}

export async function importImage(sink: ImageSink, path: string, options: ImportOptions): Promise<ImportResult> {
  assertRepositoryName(options.repository);
  if (!isValidTag(options.tag)) throw new ValidationError(`invalid tag '${options.tag}'`, { field: 'tag' });
  const kind = await detectKind(path);
  switch (kind) {
    case 'oci-layout':
      return { kind, digest: await importOciLayout(sink, path, options.repository, options.tag, options.sourceRef) };
    case 'docker-archive':
      return { kind, digest: await importDockerArchive(sink, path, options.repository, options.tag, options.sourceRef) };
    case 'rootfs':
      return { kind, digest: await importRootfs(sink, path, options.repository, options.tag, options.run ?? {}, options.tar) };
  }
}

export async function detectKind(path: string): Promise<ImportKind> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (isNotFound(err)) throw new ValidationError(`${path} does not exist`, { field: 'path' });
    throw err;
  }
  if (info.isFile()) return 'docker-archive';
  if (!info.isDirectory()) throw new ValidationError(`${path} is neither a directory nor a file`, { field: 'path' });
  try {
    await stat(join(path, 'oci-layout'));
    return 'oci-layout';
  } catch (err) {
    if (isNotFound(err)) return 'rootfs';
    throw err;
  }
}
