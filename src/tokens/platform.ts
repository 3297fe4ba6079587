/**
 * Tokens the platform's own components present to each other (API → agent for reservations,
 * host info and listings; agent → registry for image pulls). They are ordinary macaroons
 * bound to a reserved organization no user organization can be named (org slugs never start
 * with `_`), so a user's token can never pass a platform check and a platform token can never
 * act inside a user's organization except where a verifier explicitly accepts it (the registry
 * lets platform tokens pull). Each is minted on the spot from the keyring with a short expiry,
 * so none is stored, and one that leaks from a log stops working within minutes.
 */
import type { Action } from './caveats.ts';
import type { Keyring } from './keyring.ts';
import { mintToken } from './token.ts';

export const PLATFORM_ORG = '_platform';
/** Long enough for the slowest internal call (a 60 s machine wait), short enough to be harmless if leaked. */
export const PLATFORM_TOKEN_TTL_MS = 5 * 60_000;

export function mintPlatformToken(keyring: Keyring, actions: Action[], nowMs: number, ttlMs = PLATFORM_TOKEN_TTL_MS): string {
  return mintToken({
    keyring,
    org: PLATFORM_ORG,
    caveats: [
      { type: 'actions', actions },
      { type: 'expires', notAfterMs: nowMs + ttlMs },
    ],
  });
}
