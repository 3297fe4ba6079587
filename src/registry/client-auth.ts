/**
 * The client's side of registry auth: parse a 401's WWW-Authenticate challenge and turn it into
 * an Authorization header, doing the docker token dance (GET realm?service=&scope= with basic
 * credentials → bearer token) when the registry asks for a bearer token.
 */
import { request, type Dispatcher } from 'undici';
import { AuthError } from '../lib/errors.ts';

export interface RegistryCredentials {
  /** Any name works with Aloft's tokens; other registries need the real one. */
  username?: string;
  /** A password or token; a function is called at each token exchange, for credentials that are minted short-lived. */
  password: string | (() => string);
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Token responses larger than this are refused rather than buffered. */
const tokenResponseBytesMax = 64 * 1024;

export function parseChallenge(header: string): Challenge | null {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (m === null) return null;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

function basicHeader(credentials: RegistryCredentials): string {
  const password = typeof credentials.password === 'string' ? credentials.password : credentials.password();
  return `Basic ${Buffer.from(`${credentials.username ?? 'aloft'}:${password}`).toString('base64')}`;
}

/** The Authorization header that answers `challenge`, fetching a token if it is a bearer challenge. */
export async function answerChallenge(
  challenge: Challenge,
  scope: string,
  credentials: RegistryCredentials | undefined,
  dispatcher: Dispatcher,
): Promise<string> {
  if (challenge.scheme === 'basic') {
    if (credentials === undefined) throw new AuthError('unauthorized', 'the registry wants credentials and none were given');
    return basicHeader(credentials);
  }
  const realm = challenge.params.realm;
  if (challenge.scheme !== 'bearer' || realm === undefined) {
    throw new AuthError('unauthorized', `unsupported registry auth challenge '${challenge.scheme}'`);
  }
  const url = new URL(realm);
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
  // Ask for what the challenge names and what this call needs (a mount needs pull on its source too).
  const scopes = new Set([...(challenge.params.scope?.split(' ') ?? []), ...scope.split(' ')].filter((s) => s !== ''));
  for (const s of scopes) url.searchParams.append('scope', s);
  const response = await request(url, {
    dispatcher,
    headers: credentials === undefined ? {} : { authorization: basicHeader(credentials) },
  });
  const text = await readLimited(response.body, tokenResponseBytesMax);
  if (response.statusCode !== 200) {
    throw new AuthError(response.statusCode === 403 ? 'forbidden' : 'unauthorized', `the registry's token endpoint refused the credentials (HTTP ${response.statusCode})`, {
      hint: 'check the registry token (--creds / ALOFT_REGISTRY_TOKEN)',
    });
  }
  const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
  const token = typeof body.token === 'string' ? body.token : body.access_token;
  if (typeof token !== 'string' || token.length === 0) throw new AuthError('unauthorized', 'the token endpoint returned no token');
  return `Bearer ${token}`;
}

async function readLimited(body: AsyncIterable<Buffer>, bytesMax: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > bytesMax) throw new AuthError('unauthorized', `token response exceeds ${bytesMax} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
