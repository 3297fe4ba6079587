/**
 * The macaroon identifier: which root key signed the token, and the token's id.
 *
 * UTF-8 JSON `[1, keyId, tokenId]`. The key id lets verifiers pick the right key from their
 * keyring without asking anyone, so keys can rotate; the token id is what revocation names.
 * Both are covered by the signature, so neither can be changed without the root key.
 */
import { ValidationError } from '../lib/index.ts';

export interface Identifier {
  keyId: string;
  tokenId: string;
}

const IDENTIFIER_VERSION = 1;
/** Key ids become file names in a keyring directory, so they are kept to a safe alphabet. */
export const KEY_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const TOKEN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export function encodeIdentifier(id: Identifier): Buffer {
  if (!KEY_ID.test(id.keyId)) throw new ValidationError(`key id '${id.keyId}' must match ${KEY_ID}`, { field: 'keyId' });
  if (!TOKEN_ID.test(id.tokenId)) {
    throw new ValidationError(`token id '${id.tokenId}' must match ${TOKEN_ID}`, { field: 'tokenId' });
  }
  return Buffer.from(JSON.stringify([IDENTIFIER_VERSION, id.keyId, id.tokenId]), 'utf8');
}

/** Returns undefined for anything that is not exactly an identifier we would have written. */
export function decodeIdentifier(bytes: Buffer): Identifier | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== IDENTIFIER_VERSION) return undefined;
  const [, keyId, tokenId] = parsed as [unknown, unknown, unknown];
  if (typeof keyId !== 'string' || typeof tokenId !== 'string') return undefined;
  if (!KEY_ID.test(keyId) || !TOKEN_ID.test(tokenId)) return undefined;
  const id = { keyId, tokenId };
  return encodeIdentifier(id).equals(bytes) ? id : undefined;
}
