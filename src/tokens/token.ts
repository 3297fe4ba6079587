/**
 * Minting (needs a root key) and attenuation (needs only the token).
 */
import { NotFoundError, randomHex } from '../lib/index.ts';
import { encodeCaveat } from './caveats.ts';
import type { Caveat } from './caveats.ts';
import { decodeToken, encodeToken } from './format.ts';
import type { Macaroon } from './format.ts';
import { encodeIdentifier } from './identifier.ts';
import type { Keyring } from './keyring.ts';
import { chainCaveat, rootSignature } from './signature.ts';

export interface MintOptions {
  keyring: Keyring;
  /** Defaults to the keyring's current key. */
  keyId?: string;
  /** Written as the first caveat, so every token is bound to exactly one organization. */
  org: string;
  caveats?: Caveat[];
  /** What revocation names; defaults to a random id. Store it if the token may need revoking. */
  tokenId?: string;
}

export function mintToken(options: MintOptions): string {
  const keyId = options.keyId ?? options.keyring.currentId;
  if (keyId === undefined) throw new NotFoundError('key', '(current)', { hint: 'generate a key first: the keyring is empty' });
  const key = options.keyring.get(keyId);
  if (key === undefined) throw new NotFoundError('key', keyId);
  const identifier = encodeIdentifier({ keyId, tokenId: options.tokenId ?? `t${randomHex(12)}` });
  const root: Macaroon = { identifier, caveats: [], signature: rootSignature(key.secret, identifier) };
  return encodeToken(withCaveats(root, [{ type: 'org', org: options.org }, ...(options.caveats ?? [])]));
}

/**
 * Returns a token that allows at most what `token` allows, further limited by `caveats`.
 * Offline and keyless: any holder can narrow a token before handing it on.
 */
export function attenuate(token: string, caveats: Caveat[]): string {
  return encodeToken(withCaveats(decodeToken(token), caveats));
}

function withCaveats(m: Macaroon, caveats: Caveat[]): Macaroon {
  let signature = m.signature;
  const added = caveats.map((caveat) => {
    const identifier = encodeCaveat(caveat);
    signature = chainCaveat(signature, identifier);
    return { identifier };
  });
  return { ...m, caveats: [...m.caveats, ...added], signature };
}
