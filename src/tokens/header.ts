/**
 * The Authorization header forms clients send: `Bearer <tokens>` and Fly's `FlyV1 <tokens>`,
 * where <tokens> is one token or several separated by commas. flyctl sends FlyV1; most other
 * clients send Bearer. Docker-style registry clients can only send `Basic`, so there the
 * tokens are the password and the user name is ignored.
 */
import { AuthError } from '../lib/index.ts';

/** Bounds what a hostile header can make us split and decode. */
export const HEADER_CHARS_MAX = 64 * 1024;
export const HEADER_TOKENS_MAX = 16;

const SCHEMES = ['bearer', 'flyv1', 'basic'];

/** Returns the tokens in the header, in order; throws a 401 AuthError when there are none. */
export function parseAuthorization(header: string | undefined): string[] {
  const hint = 'send `Authorization: Bearer <token>` (or `FlyV1 <token>`) with a token from `aloft tokens create`';
  if (header === undefined || header.trim() === '') {
    throw new AuthError('unauthorized', 'missing Authorization header', { hint, details: { reason: 'missing' } });
  }
  if (header.length > HEADER_CHARS_MAX) {
    throw new AuthError('unauthorized', 'Authorization header is too long', { hint, details: { reason: 'malformed' } });
  }
  const match = /^\s*(\S+)\s+(.*)$/s.exec(header);
  if (match === null || !SCHEMES.includes(match[1]!.toLowerCase())) {
    throw new AuthError('unauthorized', 'Authorization header must use the Bearer, FlyV1 or Basic scheme', {
      hint,
      details: { reason: 'malformed' },
    });
  }
  const credentials = match[1]!.toLowerCase() === 'basic' ? basicPassword(match[2]!) : match[2]!;
  const tokens = credentials
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tokens.length === 0 || tokens.length > HEADER_TOKENS_MAX) {
    throw new AuthError('unauthorized', `Authorization header must carry 1 to ${HEADER_TOKENS_MAX} tokens`, {
      hint,
      details: { reason: 'malformed' },
    });
  }
  return tokens;
}

function basicPassword(encoded: string): string {
  const decoded = Buffer.from(encoded.trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? '' : decoded.slice(colon + 1);
}
