/** Media types the registry and the image tools speak. */

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The four manifest media types a registry stores and serves; in the order clients are offered them. */
export const manifestMediaTypes: readonly string[] = [
  mediaTypes.ociManifest,
  mediaTypes.ociIndex,
  mediaTypes.dockerManifest,
  mediaTypes.dockerManifestList,
];

export function isManifestMediaType(value: string): boolean {
  return manifestMediaTypes.includes(value);
}

/** Index-like manifests list other manifests; image manifests list a config and layers. */
export function isIndexMediaType(value: string): boolean {
  return value === mediaTypes.ociIndex || value === mediaTypes.dockerManifestList;
}
