/** Writing responses: headers every registry response carries, JSON bodies, spec errors. */
import type { ServerResponse } from 'node:http';
import { asAloftError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { RegistryError } from '../errors.ts';

export function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void {
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Length': payload?.length ?? 0, ...headers });
  res.end(payload);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | number> = {}): void {
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

/** Sends any thrown value as the spec's error body; non-registry errors become 500s and are logged. */
export function sendError(res: ServerResponse, err: unknown, logger: Logger, headOnly: boolean): void {
  const error = err instanceof RegistryError ? err : null;
  if (error === null) logger.error({ err }, 'request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = error?.status ?? 500;
  const body = error?.toOciBody() ?? { errors: [{ code: 'UNKNOWN', message: asAloftError(err).message }] };
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': payload.length, ...(error?.headers ?? {}) });
  res.end(headOnly ? undefined : payload);
}
