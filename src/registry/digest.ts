/**
 * Content digests. Aloft stores and verifies sha256 only: it is the one algorithm the OCI spec
 * requires every registry to support, and one algorithm keeps incremental hashing of chunked
 * uploads simple. Anything else is refused with DIGEST_INVALID / UNSUPPORTED.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RegistryError } from './errors.ts';

const sha256Pattern = /^sha256:[a-f0-9]{64}$/;
const anyDigestPattern = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(value: string): boolean {
  return sha256Pattern.test(value);
}

/** Throws DIGEST_INVALID for a malformed digest, UNSUPPORTED for a well-formed non-sha256 one. */
export function assertDigest(value: string): void {
  if (sha256Pattern.test(value)) return;
  if (anyDigestPattern.test(value) && !value.startsWith('sha256:')) {
    throw new RegistryError('UNSUPPORTED', `digest algorithm of '${value.slice(0, 80)}' is not supported`, {
      status: 400,
      detail: { digest: value.slice(0, 80) },
      hint: 'use sha256 digests',
    });
  }
  throw new RegistryError('DIGEST_INVALID', `invalid digest '${value.slice(0, 80)}'`, { detail: { digest: value.slice(0, 80) } });
}

/**
 * The hex part of a sha256 digest, which storage uses as a file name. Throws for anything that
 * is not a valid digest, so no caller can turn a client's `sha256:../../x` into a path.
 */
export function digestHex(digest: string): string {
  assertDigest(digest);
  return digest.slice('sha256:'.length);
}

export function newDigester(): Hash {
  return createHash('sha256');
}

export function digestOf(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The digest string of a finished hash. */
export function digestFromHash(hash: Hash): string {
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Passes bytes through while hashing them; at the end it fails the stream (error code
 * DIGEST_INVALID) if the bytes do not hash to `expected`, so a consumer never mistakes corrupt
 * content for good content.
 */
export class DigestVerifier extends Transform {
  readonly expected: string;
  #hash: Hash = newDigester();
  #bytes = 0;

  constructor(expected: string) {
    super();
    this.expected = expected;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = digestFromHash(this.#hash);
    if (actual === this.expected) {
      callback();
      return;
    }
    callback(
      new RegistryError('DIGEST_INVALID', `content does not match digest ${this.expected} (got ${actual})`, {
        detail: { expected: this.expected, actual, sizeBytes: this.#bytes },
        fault: 'platform',
      }),
    );
  }
}
