/**
 * The macaroon HMAC chain, exactly as libmacaroons computes it, so signatures agree across
 * libraries: the root key is first stretched with HMAC keyed by "macaroons-key-generator",
 * the identifier is signed with that, and each caveat's identifier is folded into the running
 * signature. Knowing a signature lets anyone append caveats but never remove one, which is
 * what makes offline attenuation safe.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Macaroon } from './format.ts';

const KEY_GENERATOR = Buffer.from('macaroons-key-generator', 'utf8');

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** The signature of a macaroon with no caveats yet. */
export function rootSignature(rootKey: Buffer, identifier: Buffer): Buffer {
  return hmac(hmac(KEY_GENERATOR, rootKey), identifier);
}

/** The signature after appending a first-party caveat. */
export function chainCaveat(signature: Buffer, caveatIdentifier: Buffer): Buffer {
  return hmac(signature, caveatIdentifier);
}

/**
 * Whether the macaroon was minted with `rootKey` and has only first-party caveats. Third-party
 * caveats need discharge macaroons we never issue, so they fail here rather than being skipped.
 */
export function signatureValid(m: Macaroon, rootKey: Buffer): boolean {
  let signature = rootSignature(rootKey, m.identifier);
  for (const caveat of m.caveats) {
    if (caveat.vid !== undefined) return false;
    signature = chainCaveat(signature, caveat.identifier);
  }
  return timingSafeEqual(signature, m.signature);
}
