import { request, type Dispatcher } from 'undici';
import { PlatformError, errorFromBody, type AloftError } from './errors.ts';

export interface JsonRequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Milliseconds before the request is abandoned. */
  timeoutMs?: number;
  /** Names the component being called, for the error when it cannot be reached. */
  target?: string;
  /** Connection pool to send it through (one with its own connect timeout, say); default undici's global one. */
  dispatcher?: Dispatcher;
}

export const requestTimeoutDefaultMs = 90_000;

/**
 * Calls a JSON endpoint of an Aloft component. A non-2xx answer becomes the same AloftError the
 * server threw (code, fault, hint); an unreachable server is a platform fault naming the target.
 */
export async function requestJson<T>(method: string, url: string, options: JsonRequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let payload: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(options.body);
  }
  const timeoutMs = options.timeoutMs ?? requestTimeoutDefaultMs;
  let response;
  try {
    response = await request(url, {
      method: method as 'GET',
      headers,
      body: payload,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
  } catch (err) {
    throw unreachable(url, options.target, err);
  }
  const text = await response.body.text();
  let parsed: unknown = text;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (response.statusCode >= 200 && response.statusCode < 300) return (text.length === 0 ? undefined : parsed) as T;
  throw errorFromBody(response.statusCode, parsed);
}

function unreachable(url: string, target: string | undefined, cause: unknown): AloftError {
  const what = target ?? new URL(url).host;
  const reason = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : String(cause);
  return new PlatformError('unreachable', `cannot reach ${what} at ${new URL(url).origin} (${reason})`, {
    status: 502,
    cause,
    details: { target: what, url: new URL(url).origin },
    hint: 'the component may be down; this is a platform fault, not your app',
  });
}
