/**
 * The bytes of an HTTP/1.1 request to a machine or a peer proxy: the head written from headers
 * the client side has already parsed (and so validated), and chunked framing for a streamed
 * body of unknown length.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { ProxyUpstreamError } from './upstream-errors.ts';

/** How the body is framed on the wire. */
export type BodyFraming = 'none' | { length: number } | 'chunked';

/**
 * Bytes that would end a header line or the head early. The client side's parsers refuse them,
 * but headers the proxy adds are built from other sources (a machine's fly-replay state, say):
 * one check here keeps any of them from smuggling a second request.
 */
const lineBreaking = /[\r\n\0]/;
/** Framing headers are the proxy's own: the client's were read and the body is re-framed. */
const framing = new Set(['content-length', 'transfer-encoding']);

export function requestHead(method: string, path: string, headers: OutgoingHttpHeaders, body: BodyFraming, defaultHost: string): string {
  if (lineBreaking.test(path) || path.includes(' ')) throw new ProxyUpstreamError('EBADREQUEST', `request target '${path.slice(0, 80)}' cannot be sent`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || framing.has(name)) continue;
    if (name === 'host') hasHost = true;
    if (Array.isArray(value)) for (const v of value) head += line(name, v);
    else head += line(name, typeof value === 'string' ? value : String(value));
  }
  if (!hasHost) head += `host: ${defaultHost}\r\n`;
  if (body === 'chunked') head += 'transfer-encoding: chunked\r\n';
  else if (body !== 'none') head += `content-length: ${body.length}\r\n`;
  return `${head}\r\n`;
}

function line(name: string, value: string): string {
  if (lineBreaking.test(value) || lineBreaking.test(name)) throw new ProxyUpstreamError('EBADREQUEST', `header '${name.slice(0, 80)}' holds a line break and cannot be sent`);
  return `${name}: ${value}\r\n`;
}

/** One chunk of a chunked body (never empty: an empty chunk ends the body). */
export function chunkPrefix(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const chunkSuffix = '\r\n';
export const lastChunk = '0\r\n\r\n';
