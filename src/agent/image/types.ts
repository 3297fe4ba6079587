/**
 * Images as the agent sees them. The agent pulls through an ImageSource (the registry client
 * implements it), caches each layer once by digest, and gives each machine its own writable root.
 */
import type { Readable } from 'node:stream';

/** A parsed image reference: `registry/repository:tag` or `registry/repository@sha256:…`. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
}

/** The parts of an OCI image config that decide how a machine's process starts. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** KEY=VALUE strings, as in the OCI config. */
  env: string[];
  workingDir: string;
  user: string;
  labels: Record<string, string>;
  exposedPorts: number[];
}

export interface ResolvedImage {
  ref: ImageRef;
  /** Digest of the manifest that was pulled (for a multi-platform index, of the linux/amd64 entry). */
  digest: string;
  config: ImageConfig;
  /** Layer digests, base first. */
  layers: string[];
  sizeBytes: number;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  body: Buffer;
}

/** Where image content comes from: the registry client, or a local OCI layout in tests. */
export interface ImageSource {
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  getBlob(repository: string, digest: string): Promise<Readable>;
}

export interface ImageStore {
  /** Resolves `ref`, fetches missing layers (each digest once, verified) and unpacks them once. */
  pull(ref: string): Promise<ResolvedImage>;
  /** A writable root filesystem for one machine on top of the image's layers. Idempotent. */
  prepareRootfs(machineId: string, image: ResolvedImage): Promise<string>;
  /** Removes the machine's root filesystem (unmounting it first). Safe if absent. */
  releaseRootfs(machineId: string): Promise<void>;
  /** Machine ids that have a root filesystem, for leak checks and reconciliation. */
  listRootfs(): Promise<string[]>;
}
