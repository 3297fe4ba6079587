/**
 * Request bodies: small ones are read whole before anything is sent, so a refused connection
 * can be retried on another machine and a `fly-replay` can send the same bytes elsewhere;
 * larger ones stream through once.
 */
import { PassThrough, type Readable } from 'node:stream';

export type RequestBody = { kind: 'none' } | { kind: 'buffered'; bytes: Buffer } | { kind: 'streamed'; stream: Readable };

export function declaresBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

/** Reads up to `bytesMax` of the body; past that (or when its declared length is larger) it streams. */
export function readBody(req: Readable & { headers: Record<string, string | string[] | undefined> }, bytesMax: number, http2: boolean): Promise<RequestBody> {
  const declared = req.headers['content-length'];
  // HTTP/2 requests may carry a body with neither header; their end of stream says where it ends.
  if (!http2 && !declaresBody(req.headers)) return Promise.resolve({ kind: 'none' });
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
