/** The proxy's own answers: a JSON body saying what failed and what to do, with a short code saying where. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';

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

export type AnyResponse = ServerResponse | Http2ServerResponse;

export function fail(res: AnyResponse, status: number, code: ProxyErrorCode, message: string, hint: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.destroyed) return;
  const body = JSON.stringify({ error: message, code, fault: faultOf[code], hint });
  writeHead(res, status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [proxyErrorHeader]: code, ...extra });
  res.end(body);
}

/** A raw HTTP/1.1 error written to a socket the HTTP server no longer owns (client errors, upgrades). */
export function rawFailure(status: number, reason: string, code: ProxyErrorCode, message: string): string {
  const body = JSON.stringify({ error: message, code, fault: faultOf[code] });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${proxyErrorHeader}: ${code}\r\nconnection: close\r\n\r\n${body}`;
}

/** writeHead for either protocol (their signatures differ only in overloads this proxy does not use); headers as an object or flat name, value, … */
export function writeHead(res: AnyResponse, status: number, headers: OutgoingHttpHeaders | string[]): void {
  (res as ServerResponse).writeHead(status, headers);
}
