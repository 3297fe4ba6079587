/**
 * Request bodies: small ones are read whole before anything is sent, so a refused connection
 * can be retried on another machine and a `fly-replay` can send the same bytes elsewhere;
 * larger ones stream through once. Either way a client that stops sending its body is answered
 * 408 and cut off, so a trickle of slow bodies cannot hold an app's share of the proxy.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { ProxyLimits } from './limits.ts';
import { fail, type ClientResponse } from './responses.ts';

export type RequestBody = { kind: 'none' } | { kind: 'buffered'; bytes: Buffer } | { kind: 'streamed'; stream: Readable };

type BodyRequest = Readable & { headers: Record<string, string | string[] | undefined>; httpVersion: string };

export function declaresBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

/**
 * Reads up to `replayBodyBytesMax` of the body; past that (or when its declared length is
 * larger) it streams. While the body arrives, `bodyIdleTimeoutMs` without a byte (when the proxy
 * is waiting for one) answers `res` with a 408 and then destroys the request, which rejects a
 * body still being read and fails the relay of a streamed one.
 */
export function readBody(req: BodyRequest, res: ClientResponse, limits: Pick<ProxyLimits, 'replayBodyBytesMax' | 'bodyIdleTimeoutMs'>): Promise<RequestBody> {
  const http2 = req.httpVersion === '2.0';
  const bytesMax = limits.replayBodyBytesMax;
  const declared = req.headers['content-length'];
  // HTTP/2 requests may carry a body with neither header; their end of stream says where it ends.
  if (!http2 && !declaresBody(req.headers)) return Promise.resolve({ kind: 'none' });
  watchIdle(req, res, limits.bodyIdleTimeoutMs, http2);
  if (declared !== undefined && Number(declared) > bytesMax) return Promise.resolve({ kind: 'streamed', stream: req });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= bytesMax) return;
      cleanup();
      req.pause();
      const stream = new PassThrough();
      for (const c of chunks) stream.write(c);
      req.pipe(stream);
      resolve({ kind: 'streamed', stream });
    };
    const onEnd = (): void => {
      cleanup();
      resolve(size === 0 ? { kind: 'none' } : { kind: 'buffered', bytes: Buffer.concat(chunks, size) });
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('client closed the request before its body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Until the body has ended (or the response is done), answers 408 once the client has sent
 * nothing for `idleMs` while the proxy waits for it: the body is being consumed and nothing of
 * it is buffered. A body held back by the proxy itself (waiting for a machine, or for a slow
 * machine to read) is not the client's delay. Progress is seen by watching `data` only once the
 * body flows, so watching never starts the flow itself.
 */
function watchIdle(req: BodyRequest, res: ClientResponse, idleMs: number, http2: boolean): void {
  let lastByteMs = performance.now();
  let watching = true;
  const touch = (): void => void (lastByteMs = performance.now());
  const stop = (): void => {
    watching = false;
    clearTimeout(timer);
    req.off('data', touch);
  };
  const check = (): void => {
    if (!watching) return;
    const waitingForClient = req.readableFlowing === true && req.readableLength === 0;
    if (!waitingForClient) touch();
    const silentMs = performance.now() - lastByteMs;
    if (silentMs < idleMs) {
      timer = setTimeout(check, idleMs - silentMs);
      return;
    }
    stop();
    fail(res, 408, 'PB', `the request body stopped arriving: nothing received for ${idleMs / 1000} s`, 'send the body without pausing; the connection is closed', http2 ? {} : { connection: 'close' });
    // Once the 408 is out, the request goes: the connection closes and whatever relays the body fails.
    const drop = (): void => void req.destroy(new Error(`request body idle for ${idleMs} ms`));
    if (res.destroyed) drop();
    else res.once('close', drop);
  };
  let timer = setTimeout(check, idleMs);
  req.once('resume', () => {
    if (watching) req.on('data', touch);
  });
  req.once('end', stop);
  req.once('close', stop);
  res.once('close', stop);
}
