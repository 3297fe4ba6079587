/** What every endpoint handler gets. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../lib/log.ts';
import type { Authorize } from '../auth.ts';
import type { Registry } from '../registry.ts';

export interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  registry: Registry;
  authorize: Authorize;
  logger: Logger;
  ip: string;
}

/** A request header as one string (node joins repeated headers with ", "). */
export function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Content-Length as a number, or null when absent (chunked transfer). */
export function contentLength(req: IncomingMessage): number | null {
  const value = header(req, 'content-length');
  if (value === null || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/** Whether the request carries a body at all. */
export function hasBody(req: IncomingMessage): boolean {
  const length = contentLength(req);
  return (length !== null && length > 0) || header(req, 'transfer-encoding') !== null;
}
