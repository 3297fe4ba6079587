/**
 * Authorization is a hook: the server asks `authorize` about every request and knows nothing of
 * tokens itself, so Aloft's macaroon tokens can plug in later without touching the server.
 * `staticTokenAuth` is the simple implementation shipped for now: one shared secret, accepted as
 * a bearer token or as the password of HTTP basic auth (docker-style clients send that), plus a
 * docker-style `/token` endpoint so clients that do the token dance (skopeo `--creds`) work.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

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
  /** `challenge` is sent as WWW-Authenticate with a 401. */
  | { ok: false; status: 401 | 403; challenge?: string };

export type Authorize = (request: AuthorizeRequest) => Promise<AuthorizeResult>;

export interface TokenRequest {
  headers: IncomingHttpHeaders;
  service: string | null;
  /** `repository:org/name:pull,push` strings, as the client asked. */
  scopes: string[];
  ip: string;
}

export type TokenResult = { ok: true; token: string; expiresInS: number } | { ok: false; status: 401 | 403; challenge?: string };

/** Serves `GET /token`: exchanges the caller's credentials for a bearer token. */
export type IssueToken = (request: TokenRequest) => Promise<TokenResult>;

export interface StaticTokenAuthOptions {
  token: string;
  /** The `service` named in challenges; clients echo it to the token endpoint. */
  service?: string;
  /** Absolute URL of the token endpoint; default `http://<Host header>/token`. */
  realm?: string;
}

/** How long clients may cache a token from `/token` before asking again. */
const staticTokenTtlS = 3600;
/** A Host header we will echo into a challenge: host name or address and port, nothing else. */
const safeHostPattern = /^[A-Za-z0-9.\-:[\]]{1,255}$/;

export function staticTokenAuth(options: StaticTokenAuthOptions): { authorize: Authorize; issueToken: IssueToken } {
  if (options.token.length === 0) throw new Error('staticTokenAuth needs a non-empty token');
  const expected = Buffer.from(options.token);
  const service = options.service ?? 'aloft-registry';
  const matches = (candidate: string | null): boolean => {
    if (candidate === null) return false;
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const challenge = (headers: IncomingHttpHeaders, scope: string | null): string => {
    const host = typeof headers.host === 'string' && safeHostPattern.test(headers.host) ? headers.host : '127.0.0.1';
    const realm = options.realm ?? `http://${host}/token`;
    return `Bearer realm="${realm}",service="${service}"${scope === null ? '' : `,scope="${scope}"`}`;
  };

  const authorize: Authorize = async (request) => {
    if (matches(credentialOf(request.headers))) return { ok: true, subject: 'static-token' };
    const scope = request.repository === null ? null : `repository:${request.repository}:${scopeActions[request.action]}`;
    return { ok: false, status: 401, challenge: challenge(request.headers, scope) };
  };
  const issueToken: IssueToken = async (request) => {
    if (matches(credentialOf(request.headers))) return { ok: true, token: options.token, expiresInS: staticTokenTtlS };
    return { ok: false, status: 401, challenge: `Basic realm="${service}"` };
  };
  return { authorize, issueToken };
}

const scopeActions: Record<RegistryAction, string> = { pull: 'pull', push: 'pull,push', delete: 'delete' };

/** The secret a request carries: a bearer token, or the password of basic auth. */
export function credentialOf(headers: IncomingHttpHeaders): string | null {
  const header = headers.authorization;
  if (typeof header !== 'string') return null;
  const [scheme, value] = header.split(' ', 2);
  if (value === undefined) return null;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}
