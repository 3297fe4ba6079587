/** The image store's public surface: pulling OCI images and preparing per-machine root filesystems. */
export type { FetchedManifest, ImageConfig, ImageRef, ImageSource, ImageStore, ResolvedImage } from './types.ts';
export { LocalImageStore, type ImageStoreOptions } from './store.ts';
export { ociLayoutSource } from './oci-layout-source.ts';
export { parseImageRef, formatImageRef, defaultRegistry } from './reference.ts';
export { mediaTypes } from './manifest.ts';
