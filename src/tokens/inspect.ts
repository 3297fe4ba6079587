/**
 * Reading a token without verifying it, for `aloft tokens list` and debugging. Nothing here
 * checks the signature: never base an access decision on what this returns.
 */
import { decodeCaveat } from './caveats.ts';
import type { Caveat } from './caveats.ts';
import { decodeToken } from './format.ts';
import { decodeIdentifier } from './identifier.ts';

/** A caveat this code cannot read; verification would refuse the token because of it. */
export interface UnreadableCaveat {
  type: 'unreadable';
  text: string;
  problem: string;
}

export interface TokenInfo {
  keyId: string | undefined;
  tokenId: string | undefined;
  caveats: Array<Caveat | UnreadableCaveat>;
}

/** Shown text of an unreadable caveat is cut so a hostile token cannot flood a terminal. */
const TEXT_SHOWN_MAX = 200;

export function inspectToken(token: string): TokenInfo {
  const m = decodeToken(token);
  const id = decodeIdentifier(m.identifier);
  const caveats = m.caveats.map((raw): Caveat | UnreadableCaveat => {
    const text = raw.identifier.toString('utf8').slice(0, TEXT_SHOWN_MAX);
    if (raw.vid !== undefined) return { type: 'unreadable', text, problem: 'third-party caveats are not supported' };
    try {
      return decodeCaveat(raw.identifier);
    } catch (err) {
      return { type: 'unreadable', text, problem: (err as Error).message };
    }
  });
  return { keyId: id?.keyId, tokenId: id?.tokenId, caveats };
}
