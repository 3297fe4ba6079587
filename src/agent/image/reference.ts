/**
 * Image reference parsing, following the grammar `docker` and registries use:
 * `[host[:port]/]path[:tag][@sha256:hex]`. The first path component is a registry host when it
 * contains a dot or a colon or is `localhost`; otherwise the default registry applies, and on
 * Docker Hub a one-component name gets the `library/` prefix.
 */
import { ValidationError } from '../../lib/errors.ts';
import type { ImageRef } from './types.ts';

export const defaultRegistry = 'docker.io';
const defaultTag = 'latest';
/** Longer references are rejected before any parsing work. */
const referenceLengthMax = 512;

const pathComponentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;
const hostPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

export interface ParseOptions {
  /** Registry used when the reference names none; defaults to docker.io. */
  registry?: string;
}

/** Parses `ref`; throws a ValidationError (a user fault) saying which part is wrong. */
export function parseImageRef(ref: string, options: ParseOptions = {}): ImageRef {
  if (ref.length === 0 || ref.length > referenceLengthMax) {
    throw invalid(ref, `must be 1 to ${referenceLengthMax} characters`);
  }
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) throw invalid(ref, `digest '${digest}' is not sha256:<64 hex>`);
  }
  let tag: string | null = null;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagPattern.test(tag)) throw invalid(ref, `tag '${tag}' is not valid`);
  }
  const parts = rest.split('/');
  let registry = options.registry ?? defaultRegistry;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!hostPattern.test(first)) throw invalid(ref, `registry host '${first}' is not valid`);
    registry = first;
    parts.shift();
  }
  for (const part of parts) {
    if (!pathComponentPattern.test(part)) throw invalid(ref, `path component '${part}' must be lowercase letters, digits and separators`);
  }
  if (registry === defaultRegistry && parts.length === 1) parts.unshift('library');
  if (tag === null && digest === null) tag = defaultTag;
  return { registry, repository: parts.join('/'), tag, digest };
}

/** The canonical string form of a parsed reference. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag === null ? '' : `:${ref.tag}`}${ref.digest === null ? '' : `@${ref.digest}`}`;
}

function invalid(ref: string, why: string): ValidationError {
  return new ValidationError(`image reference '${ref.slice(0, 100)}' is invalid: ${why}`, {
    field: 'image',
    hint: 'use the form registry.example.com:5000/org/name:tag or name@sha256:<digest>',
  });
}
