/**
 * Registry authorization with Aloft's macaroon tokens. The server asks `authorize` about every
 * request and knows nothing of tokens itself. A token arrives as a bearer token or as the
 * password of HTTP basic auth (any user name; docker-style clients and buildah send that), and
 * is verified here with the platform keyring and a local revocation set — no call to the API.
 *
 * Repositories are `<org>/<name>`: a request on `acme/web` is checked as organization `acme`
 * and app `web`, so one organization's token can neither read nor write another's repositories
 * (and a cross-organization mount, which needs pull on the source, falls back to a plain
 * upload), and a token limited to apps reaches only `<org>/<app>` of those apps. Pulling needs
 * the `read` action; pushing `write` or `deploy` (a deploy pushes its app's image first);
 * deleting `delete`. A registry request names no machine, so a token limited to machines gets no
 * registry access at all; it names the registry's own region when one is configured, so a token
 * limited to regions works only at a registry serving one of them.
 * Platform tokens (minted by agents from the keyring) may pull any repository, nothing else.
 *
 * `GET /token` does the docker token dance: it takes the caller's token and returns it
 * attenuated to the repositories and actions asked for (a `registry` caveat) and to a few
 * minutes, so what a client caches is narrow and short-lived.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../lib/clock.ts';
import { AuthError } from '../lib/errors.ts';
import {
  attenuate,
  authenticateToken,
  authorizeToken,
  parseAuthorization,
  PLATFORM_ORG,
  type Action,
  type Keyring,
  type RegistryAction as TokenRegistryAction,
  type RevocationSet,
  type Verified,
} from '../tokens/index.ts';
import { appOf, assertRepositoryName, organizationOf } from './names.ts';

export type RegistryAction = 'pull' | 'push' | 'delete';

export interface AuthorizeRequest {
  headers: IncomingHttpHeaders;
  /** The repository the request touches; null for the `/v2/` version check. */
  repository: string | null;
  action: RegistryAction;
  ip: string;
}

export type AuthorizeResult =
  | { ok: true; subject: string }
  /** `challenge` is sent as WWW-Authenticate with a 401; `message` says why (which caveat refused). */
  | { ok: false; status: 401 | 403; challenge?: string; message?: string };

export type Authorize = (request: AuthorizeRequest) => Promise<AuthorizeResult>;

export interface TokenRequest {
  headers: IncomingHttpHeaders;
  service: string | null;
  /** `repository:org/name:pull,push` strings, as the client asked. */
  scopes: string[];
  ip: string;
}

export type TokenResult = { ok: true; token: string; expiresInS: number } | { ok: false; status: 401 | 403; challenge?: string; message?: string };

/** Serves `GET /token`: exchanges the caller's credentials for a bearer token; throws a RegistryError for a malformed scope. */
export type IssueToken = (request: TokenRequest) => Promise<TokenResult>;

export interface TokenAuthOptions {
  keyring: Keyring;
  revocations: RevocationSet;
  clock: Clock;
  /** The `service` named in challenges; clients echo it to the token endpoint. */
  service?: string;
  /** Absolute URL of the token endpoint; default `http://<Host header>/token`. */
  realm?: string;
  /** Lifetime of tokens from `/token`; default 10 minutes. */
  tokenTtlS?: number;
  /** The region this registry serves; without one, tokens limited to regions are refused. */
  region?: string;
}

/** Long enough for clients that do not refresh mid-push, short enough that a cached token soon dies. */
const issuedTokenTtlSDefault = 600;
/** A Host header we will echo into a challenge: host name or address and port, nothing else. */
const safeHostPattern = /^[A-Za-z0-9.\-:[\]]{1,255}$/;
/** Bounds the work one `/token` call can ask for. */
const scopesMax = 32;

/** What each registry action needs from a token: one of these platform actions, and the registry caveat's action. */
const needs: Record<RegistryAction, { actions: Action[]; registryAction: TokenRegistryAction }> = {
  pull: { actions: ['read'], registryAction: 'pull' },
  push: { actions: ['write', 'deploy'], registryAction: 'push' },
  delete: { actions: ['delete'], registryAction: 'push' },
};

export function tokenAuth(options: TokenAuthOptions): { authorize: Authorize; issueToken: IssueToken } {
  const service = options.service ?? 'aloft-registry';
  const ttlS = options.tokenTtlS ?? issuedTokenTtlSDefault;
  const challenge = (headers: IncomingHttpHeaders, scope: string | null): string => {
    const host = typeof headers.host === 'string' && safeHostPattern.test(headers.host) ? headers.host : '127.0.0.1';
    const realm = options.realm ?? `http://${host}/token`;
    return `Bearer realm="${realm}",service="${service}"${scope === null ? '' : `,scope="${scope}"`}`;
  };
  const authenticate = (headers: IncomingHttpHeaders): { token: string; verified: Verified } => {
    const [token] = parseAuthorization(headers.authorization);
    const verified = authenticateToken(token!, options.keyring, options.clock.now(), { isRevoked: (id) => options.revocations.isRevoked(id) });
    return { token: token!, verified };
  };
  /** Throws AuthError 403 naming the refusing caveat (for the first of the actions that would do). */
  const check = (verified: Verified, repository: string, action: RegistryAction): void => {
    if (verified.org === PLATFORM_ORG && action !== 'pull') throw new AuthError('forbidden', 'platform tokens may only pull');
    const org = verified.org === PLATFORM_ORG ? PLATFORM_ORG : organizationOf(repository);
    const app = appOf(repository);
    const request = {
      org,
      repository,
      registryAction: needs[action].registryAction,
      now: options.clock.now(),
      ...(app === undefined ? {} : { app }),
      ...(options.region === undefined ? {} : { region: options.region }),
    };
    let refusal: unknown;
    for (const tokenAction of needs[action].actions) {
      try {
        authorizeToken(verified, { ...request, action: tokenAction });
        return;
      } catch (err) {
        refusal ??= err;
      }
    }
    throw refusal;
  };

  const authorize: Authorize = async (request) => {
    const scope = request.repository === null ? null : `repository:${request.repository}:${scopeActions[request.action]}`;
    let verified: Verified;
    try {
      ({ verified } = authenticate(request.headers));
    } catch (err) {
      return { ok: false, status: 401, challenge: challenge(request.headers, scope), message: messageOf(err) };
    }
    if (request.repository === null) return { ok: true, subject: verified.tokenIds.at(-1)! };
    try {
      check(verified, request.repository, request.action);
      return { ok: true, subject: verified.tokenIds.at(-1)! };
    } catch (err) {
      const status = err instanceof AuthError && err.status === 403 ? 403 : 401;
      return { ok: false, status, message: messageOf(err), ...(status === 401 ? { challenge: challenge(request.headers, scope) } : {}) };
    }
  };

  const issueToken: IssueToken = async (request) => {
    let caller: { token: string; verified: Verified };
    try {
      caller = authenticate(request.headers);
    } catch (err) {
      return { ok: false, status: 401, challenge: `Basic realm="${service}"`, message: messageOf(err) };
    }
    // Scopes come as repeated parameters or space-separated in one (both forms are in use).
    const wanted = request.scopes.flatMap((s) => s.split(' ')).slice(0, scopesMax).flatMap(parseScope);
    const repositories = new Set<string>();
    const actions = new Set<TokenRegistryAction>();
    let refusal: unknown;
    for (const { repository, action } of wanted) {
      try {
        check(caller.verified, repository, action);
        repositories.add(repository);
        actions.add(needs[action].registryAction);
      } catch (err) {
        refusal ??= err;
      }
    }
    // Asked for something and granted none of it: say why now rather than hand out a useless token.
    if (wanted.length > 0 && repositories.size === 0) return { ok: false, status: 403, message: messageOf(refusal) };
    // One caveat for all granted repositories with the union of granted actions: never more than
    // the caller's token allows (it stays in the chain), at most a little more than asked.
    const token = attenuate(caller.token, [
      { type: 'registry', repositories: [...repositories], actions: [...actions] },
      { type: 'expires', notAfterMs: options.clock.now() + ttlS * 1000 },
    ]);
    return { ok: true, token, expiresInS: ttlS };
  };
  return { authorize, issueToken };
}

const scopeActions: Record<RegistryAction, string> = { pull: 'pull', push: 'pull,push', delete: 'delete' };

/**
 * `repository:acme/web:pull,push` → one entry per action (`*`, which deleting clients ask for,
 * means all three); other scope types (catalog) grant nothing. A repository name that is not
 * one is refused with NAME_INVALID, as the same name would be at `/v2/`.
 */
function parseScope(scope: string): { repository: string; action: RegistryAction }[] {
  const parts = scope.split(':');
  if (parts.length !== 3 || parts[0] !== 'repository') return [];
  assertRepositoryName(parts[1]!);
  return parts[2]!
    .split(',')
    .flatMap((a): RegistryAction[] => (a === '*' ? ['pull', 'push', 'delete'] : a === 'pull' || a === 'push' || a === 'delete' ? [a] : []))
    .map((action) => ({ repository: parts[1]!, action }));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : 'token refused';
}
