/** One HTTP request to a machine or a peer proxy, reporting whether it ever connected (retry safety). */
import { type Agent, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import type { Readable } from 'node:stream';

export interface UpstreamCall {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  /** A buffered body (sent with its length), a stream (piped once; not retryable), or none. */
  body: Buffer | Readable | undefined;
  connectTimeoutMs: number;
  agent: Agent;
}

export type UpstreamOutcome =
  | { kind: 'response'; response: IncomingMessage }
  | { kind: 'error'; error: NodeJS.ErrnoException; connected: boolean; reusedSocket: boolean };

/**
 * Sends the request; resolves with the response head or with the error and whether the
 * connection had been made (a refused or timed-out connect means the machine saw nothing).
 * `request` is returned at once so the caller can abort it when the client goes away.
 */
export function sendUpstream(call: UpstreamCall): { request: ClientRequest; outcome: Promise<UpstreamOutcome> } {
  const headers = call.body instanceof Buffer ? { ...call.headers, 'content-length': call.body.length } : call.headers;
  const request = httpRequest({ host: call.host, port: call.port, method: call.method, path: call.path, headers, agent: call.agent, timeout: call.connectTimeoutMs });
  let connected = false;
  const outcome = new Promise<UpstreamOutcome>((resolve) => {
    request.on('socket', (socket) => {
      // Headers and body go out as separate writes; Nagle would hold the second for an ACK.
      socket.setNoDelay(true);
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    request.on('timeout', () => {
      if (!connected) request.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    });
    request.once('response', (response) => {
      request.setTimeout(0);
      resolve({ kind: 'response', response });
    });
    request.once('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'error', error, connected, reusedSocket: request.reusedSocket }));
  });
  if (call.body === undefined) request.end();
  else if (call.body instanceof Buffer) request.end(call.body);
  else (call.body as Readable).pipe(request);
  return { request, outcome };
}
