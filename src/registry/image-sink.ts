/**
 * Where built or imported images are written: the registry client (a remote repository) or an
 * OCI image layout on disk. Importers and builders write through this, so one code path makes
 * images for both.
 */
import type { Readable } from 'node:stream';

export interface PushedBlob {
  digest: string;
  sizeBytes: number;
}

export interface ImageSink {
  hasBlob(repository: string, digest: string): Promise<boolean>;
  /** Stores a blob; with `digest` given it is verified (and skipped when already present). */
  pushBlob(repository: string, data: Readable | Buffer, digest?: string): Promise<PushedBlob>;
  /** Stores a manifest under a tag (or its digest); resolves with the manifest's digest. */
  pushManifest(repository: string, reference: string, mediaType: string, body: Buffer): Promise<string>;
}
