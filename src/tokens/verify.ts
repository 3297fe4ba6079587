/**
 * Verification: the signature against the keyring, then every caveat against the request.
 * Needs only the keyring and a local revocation lookup, so the API, the registry and agents
 * can all verify without calling anyone.
 */
import { AuthError } from '../lib/index.ts';
import { decodeCaveat } from './caveats.ts';
import type { Caveat } from './caveats.ts';
import { refusal } from './check.ts';
import type { Refusal, TokenRequest } from './check.ts';
import { decodeToken } from './format.ts';
import { decodeIdentifier } from './identifier.ts';
import type { Keyring } from './keyring.ts';
import { signatureValid } from './signature.ts';

export interface VerifyOptions {
  /**
   * Called for the token's id and each `token` caveat's id; true refuses the token. It is
   * called synchronously on every verify, so it must be a local lookup (a replicated set).
   */
  isRevoked?: (tokenId: string) => boolean;
}

export interface Verified {
  ok: true;
  /** The id the token was minted with; revoking it revokes every token derived from it. */
  tokenId: string;
  /** That id followed by the ids of `token` caveats added by attenuation. */
  tokenIds: string[];
  org: string;
  keyId: string;
  caveats: Caveat[];
}

/** Throws AuthError: 401 for a token that is not valid at all, 403 for one that does not cover the request. */
export function verifyToken(token: string, keyring: Keyring, request: TokenRequest, options: VerifyOptions = {}): Verified {
  const verified = authenticateToken(token, keyring, request.now, options);
  authorizeToken(verified, request);
  return verified;
}

/**
 * The half of verification that does not depend on the request: signature, revocation and
 * expiry. Throws AuthError 401. Callers that check one token against many requests (a listing
 * filtered by what the caller may read) authenticate once and then `authorizeToken` each.
 */
export function authenticateToken(token: string, keyring: Keyring, nowMs: number, options: VerifyOptions = {}): Verified {
  const isRevoked = options.isRevoked ?? (() => false);
  const m = decodeToken(token);
  const id = decodeIdentifier(m.identifier);
  if (id === undefined) throw unauthorized('malformed', 'token is malformed: unrecognised identifier');
  const key = keyring.get(id.keyId);
  if (key === undefined) {
    throw unauthorized('unknown_key', `token was signed with key ${id.keyId}, which this verifier does not hold`, {
      hint: 'the key may have been retired; ask for a new token, or sync this host\'s keyring',
    });
  }
  // Third-party caveats need discharge macaroons, which Aloft never issues: refuse rather than skip them.
  if (m.caveats.some((c) => c.vid !== undefined)) {
    throw unauthorized('unsupported', 'token has a third-party caveat, which Aloft does not support');
  }
  // Caveats are only read once the signature proves they are ours, so a forged token learns nothing.
  if (!signatureValid(m, key.secret)) throw unauthorized('bad_signature', 'token signature is invalid');
  if (isRevoked(id.tokenId)) throw unauthorized('revoked', `token ${id.tokenId} was revoked`);

  const caveats = m.caveats.map((raw, index) => {
    try {
      return decodeCaveat(raw.identifier);
    } catch (err) {
      throw new AuthError('forbidden', `caveat ${index + 1} cannot be checked here: ${(err as Error).message}`, {
        hint: 'the token carries a restriction this verifier does not understand, so it refuses; upgrade, or use another token',
        details: { reason: 'unknown_caveat', caveat: index + 1 },
      });
    }
  });
  const orgs = caveats.filter((c) => c.type === 'org');
  if (orgs.length === 0) throw unauthorized('malformed', 'token names no organization');
  // Expiry and revocation make the token invalid whatever it is used for, so they are checked here (401).
  caveats.forEach((caveat, index) => {
    if (caveat.type !== 'expires' && caveat.type !== 'token') return;
    const refused = refusal(caveat, { org: '', action: 'read', now: nowMs }, isRevoked);
    if (refused !== undefined) throw refusalError(refused, caveat, index);
  });

  const derived = caveats.flatMap((c) => (c.type === 'token' ? [c.tokenId] : []));
  return { ok: true, tokenId: id.tokenId, tokenIds: [id.tokenId, ...derived], org: orgs[0]!.org, keyId: id.keyId, caveats };
}

/**
 * Authenticates each token a request carries (an Authorization header may hold several) and
 * returns the valid ones in order; throws the first token's AuthError (401) when none is valid.
 */
export function authenticateTokens(tokens: string[], keyring: Keyring, nowMs: number, options: VerifyOptions = {}): { token: string; verified: Verified }[] {
  const valid: { token: string; verified: Verified }[] = [];
  let firstError: unknown;
  for (const token of tokens) {
    try {
      valid.push({ token, verified: authenticateToken(token, keyring, nowMs, options) });
    } catch (err) {
      firstError ??= err;
    }
  }
  if (valid.length === 0) throw firstError ?? unauthorized('missing', 'no token given');
  return valid;
}

/**
 * Checks every caveat of an authenticated token against `request`; throws AuthError 403 naming
 * the first caveat that refuses and what it allows. Expiry is checked again at `request.now`.
 */
export function authorizeToken(verified: Verified, request: TokenRequest): void {
  // Revocation was settled by authenticateToken; a `token` caveat has nothing else to refuse.
  verified.caveats.forEach((caveat, index) => {
    const refused = refusal(caveat, request, () => false);
    if (refused !== undefined) throw refusalError(refused, caveat, index);
  });
}

function refusalError(refused: Refusal, caveat: Caveat, index: number): AuthError {
  const message = `token refused by caveat ${index + 1} (${caveat.type}): ${refused.reason}`;
  const details = { reason: refused.kind, caveat: index + 1, caveatType: caveat.type };
  if (refused.kind === 'refused') return new AuthError('forbidden', message, { details });
  return new AuthError('unauthorized', message, { details, hint: 'ask for a new token' });
}

function unauthorized(reason: string, message: string, options: { hint?: string } = {}): AuthError {
  return new AuthError('unauthorized', message, { ...options, details: { reason } });
}
