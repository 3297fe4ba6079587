/**
 * Short image names are the organization's images on the platform's own registry:
 * `hello:v1` → `<registry>/<org>/hello:v1`, `team/hello` → `<registry>/team/hello`.
 * A reference that names a registry (a first part with a dot, a port, or `localhost`) is kept.
 */
export function expandImageRef(image: string, org: string, registryHost: string): string {
  const first = image.split('/')[0]!;
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return image;
  return `${registryHost}/${image.includes('/') ? image : `${org}/${image}`}`;
}
