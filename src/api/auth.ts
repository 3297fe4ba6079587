/**
 * Who is calling and what they may do. Every request carries macaroon tokens; the gateway
 * verifies them itself with the platform keyring (no call to anyone) and checks each route's
 * action, organization, app, machine and region against the tokens' caveats.
 */
import type { FastifyRequest } from 'fastify';
import { AuthError, type Clock } from '../lib/index.ts';
import { authenticateTokens, authorizeToken, parseAuthorization, type Action, type Keyring, type RevocationSet, type Verified } from '../tokens/index.ts';

export type { Action };

export interface Principal {
  /** The most specific id of the first valid token: what leases name as their owner. */
  subject: string;
  /** The organization of the first valid token. */
  org: string;
  /** Every valid token the request carried, with its verification. */
  tokens: { token: string; verified: Verified }[];
}

export interface AccessRequest {
  org: string;
  app?: string;
  action: Action;
  machineId?: string;
  region?: string;
}

export interface Authenticator {
  /** Verifies the request's tokens; throws AuthError 401 when none is present and valid. */
  authenticate(request: FastifyRequest): Principal;
  /**
   * Throws AuthError 403 naming the refusing caveat when no token of `principal` allows
   * `access`; returns the token that does, so it can be forwarded to the host that does the work.
   */
  authorize(principal: Principal, access: AccessRequest): string;
}

export interface TokenAuthenticatorOptions {
  keyring: Keyring;
  revocations: RevocationSet;
  clock: Clock;
}

export function tokenAuthenticator(opts: TokenAuthenticatorOptions): Authenticator {
  const isRevoked = (id: string): boolean => opts.revocations.isRevoked(id);
  return {
    authenticate(request) {
      const tokens = authenticateTokens(parseAuthorization(request.headers.authorization), opts.keyring, opts.clock.now(), { isRevoked });
      const first = tokens[0]!;
      return { subject: first.verified.tokenIds.at(-1)!, org: first.verified.org, tokens };
    },
    authorize(principal, access) {
      let firstError: unknown;
      for (const { token, verified } of principal.tokens) {
        try {
          authorizeToken(verified, { ...access, now: opts.clock.now() });
          return token;
        } catch (err) {
          firstError ??= err;
        }
      }
      throw firstError ?? new AuthError('forbidden', 'no token allows this request');
    },
  };
}

/** Whether `principal` may do `access`, for listings that leave out what the caller may not see. */
export function allows(auth: Authenticator, principal: Principal, access: AccessRequest): boolean {
  try {
    auth.authorize(principal, access);
    return true;
  } catch {
    return false;
  }
}
