/** The proxy's own answers: a JSON body saying what failed and what to do, with a short code saying where. */
import type { OutgoingHttpHeaders } from 'node:http';

/**
 * Where a request failed (Fly's codes, plus PL and PB):
 * PN no app at that host name, PM no machine could serve it (none started, or waking one failed),
 * PC connecting to the machine, PU the machine failed mid-request, PA a replay could not be
 * followed, PL every machine at its hard limit (or the app at its share of the proxy),
 * PB a malformed request.
 */
export type ProxyErrorCode = 'PN' | 'PM' | 'PC' | 'PU' | 'PA' | 'PL' | 'PB';

export const proxyErrorHeader = 'aloft-proxy-error';

const faultOf: Record<ProxyErrorCode, string> = { PN: 'user', PM: 'app', PC: 'app', PU: 'app', PA: 'app', PL: 'capacity', PB: 'user' };

/**
 * What the proxy does with its answer to a client, whichever frontend made it: node:http's
 * ServerResponse, node:http2's compatibility response, or the HTTP/1.1 fast path's Http1Response.
 * 'close' follows the end of the answer, or the client's going away.
 */
export interface ClientResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  /** Headers as an object or flat name, value, …; throws for a name or value that cannot be written. */
  writeHead(status: number, headers: OutgoingHttpHeaders | string[]): unknown;
  /** False when the client's buffer is full: 'drain' follows. */
  write(chunk: Buffer): boolean;
  end(): unknown;
  end(chunk: Buffer | string): unknown;
  destroy(): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
}

export function fail(res: ClientResponse, status: number, code: ProxyErrorCode, message: string, hint: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const body = JSON.stringify({ error: message, code, fault: faultOf[code], hint });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [proxyErrorHeader]: code, ...extra });
  res.end(body);
}

/** A raw HTTP/1.1 error written to a socket the HTTP server no longer owns (client errors, upgrades). */
export function rawFailure(status: number, reason: string, code: ProxyErrorCode, message: string): string {
  const body = JSON.stringify({ error: message, code, fault: faultOf[code] });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${proxyErrorHeader}: ${code}\r\nconnection: close\r\n\r\n${body}`;
}

/** The answer to a request head the HTTP/1 parser refused (`code` is node's error code for it), closing the connection. */
export function clientErrorReply(code: string | undefined): string {
  return code === 'HPE_HEADER_OVERFLOW'
    ? rawFailure(431, 'Request Header Fields Too Large', 'PB', 'the request head (request line and headers) is larger than this proxy accepts')
    : code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? rawFailure(408, 'Request Timeout', 'PB', 'the request head was not received in time')
      : rawFailure(400, 'Bad Request', 'PB', `malformed HTTP request (${code ?? 'parse error'})`);
}
