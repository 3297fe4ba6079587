/**
 * OCI and Docker v2 manifests, indexes and image configs: just the fields the agent needs,
 * validated, so a malformed or hostile manifest fails with a clear error instead of a crash.
 */
import { PlatformError } from '../../lib/errors.ts';
import type { ImageConfig } from './types.ts';

export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** The platform this agent runs machines for. */
export const hostPlatform = { os: 'linux', architecture: 'amd64' } as const;
/** Images with more layers than this are refused (overlayfs stacks at most ~500 lowerdirs). */
export const layerCountMax = 128;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}

export type ParsedManifest =
  | { kind: 'index'; manifests: Descriptor[] }
  | { kind: 'manifest'; config: Descriptor; layers: Descriptor[] };

const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** Parses a manifest or index body; `mediaType` is what the source said (the body's own field wins). */
export function parseManifest(body: Buffer, mediaType: string): ParsedManifest {
  const doc = parseJson(body, 'manifest');
  const type = typeof doc.mediaType === 'string' ? doc.mediaType : mediaType;
  if (type === mediaTypes.ociIndex || type === mediaTypes.dockerList || (type === '' && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw bad('index has no manifests array');
    return { kind: 'index', manifests: doc.manifests.map((d) => descriptor(d)) };
  }
  if (type === mediaTypes.ociManifest || type === mediaTypes.dockerManifest || (type === '' && Array.isArray(doc.layers))) {
    if (!Array.isArray(doc.layers)) throw bad('manifest has no layers array');
    if (doc.layers.length > layerCountMax) throw bad(`manifest has ${doc.layers.length} layers, more than ${layerCountMax}`);
    return { kind: 'manifest', config: descriptor(doc.config), layers: doc.layers.map((d) => descriptor(d)) };
  }
  throw bad(`unsupported manifest media type '${type}'`);
}

/** The index entry for linux/amd64, or a platform fault listing what the image offers. */
export function pickPlatform(manifests: Descriptor[]): Descriptor {
  const match = manifests.find((m) => m.platform?.os === hostPlatform.os && m.platform.architecture === hostPlatform.architecture);
  if (match !== undefined) return match;
  const offered = manifests.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
  throw new PlatformError('image_platform_missing', `image has no ${hostPlatform.os}/${hostPlatform.architecture} variant (it has: ${offered || 'none'})`, {
    hint: `build the image for ${hostPlatform.os}/${hostPlatform.architecture}`,
  });
}

/** The parts of an image config blob that decide how the machine's process starts. */
export function parseImageConfig(body: Buffer): ImageConfig {
  const doc = parseJson(body, 'image config');
  const c = (typeof doc.config === 'object' && doc.config !== null ? doc.config : {}) as Record<string, unknown>;
  const ports = typeof c.ExposedPorts === 'object' && c.ExposedPorts !== null ? Object.keys(c.ExposedPorts) : [];
  return {
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === 'string' ? c.WorkingDir : '',
    user: typeof c.User === 'string' ? c.User : '',
    labels: stringMap(c.Labels),
    exposedPorts: ports.map((p) => Number.parseInt(p, 10)).filter((p) => Number.isInteger(p) && p > 0 && p < 65536),
  };
}

function descriptor(value: unknown): Descriptor {
  if (typeof value !== 'object' || value === null) throw bad('descriptor is not an object');
  const d = value as Record<string, unknown>;
  if (typeof d.digest !== 'string' || !digestPattern.test(d.digest)) throw bad(`descriptor digest '${String(d.digest)}' is not sha256`);
  const size = typeof d.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0 ? d.size : 0;
  const out: Descriptor = { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size };
  const p = d.platform as Record<string, unknown> | undefined;
  if (typeof p === 'object' && p !== null && typeof p.os === 'string' && typeof p.architecture === 'string') {
    out.platform = { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) };
  }
  return out;
}

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw bad(`${what} is not JSON`, err);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(`${what} is not a JSON object`);
  return doc as Record<string, unknown>;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function stringMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function bad(message: string, cause?: unknown): PlatformError {
  return new PlatformError('image_manifest_invalid', `image manifest: ${message}`, cause === undefined ? {} : { cause });
}
