/**
 * Matching request paths to registry endpoints. Repository names contain slashes, so routes are
 * recognised by their suffix (`/blobs/…`, `/manifests/…`, …) with the name as everything before.
 */
export type Route =
  | { kind: 'base' }
  | { kind: 'token' }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

/** Longer paths are refused before matching: a name is ≤ 255 bytes, a reference ≤ ~135. */
const pathBytesMax = 1024;

const v2Pattern = /^\/v2\/(.+?)\/(?:blobs\/uploads\/?([^/]*)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list|referrers\/([^/]+))$/;

export function matchRoute(pathname: string): Route | null {
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'base' };
  if (pathname === '/token') return { kind: 'token' };
  if (pathname.length > pathBytesMax) return null;
  const m = v2Pattern.exec(pathname);
  if (m === null) return null;
  const name = m[1]!;
  if (m[2] !== undefined) return m[2] === '' ? { kind: 'uploads', name } : { kind: 'upload', name, id: m[2] };
  if (m[3] !== undefined) return { kind: 'blob', name, digest: decodeURIComponent(m[3]) };
  if (m[4] !== undefined) return { kind: 'manifest', name, reference: decodeURIComponent(m[4]) };
  if (m[5] !== undefined) return { kind: 'referrers', name, digest: decodeURIComponent(m[5]) };
  return { kind: 'tags', name };
}
