import { LogController, fastify, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { ValidationError, asAloftError } from './errors.ts';
import type { Logger } from './log.ts';

/** Request bodies above this are refused before parsing; machine configs are far smaller. */
export const jsonBodyBytesMax = 1024 * 1024;

/**
 * A Fastify instance with Aloft's error contract: every failure leaves as an ErrorBody JSON
 * (`{error, code, fault, hint?, details?}`) with the status its class says; platform faults are
 * logged with their cause, user errors are not (they are the caller's to read).
 */
export function createHttpServer(logger: Logger): FastifyInstance {
  const app = fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: jsonBodyBytesMax,
  }) as unknown as FastifyInstance;
  app.setErrorHandler((err, request, reply) => {
    const e = fastifyErrorToAloft(err);
    if (e.fault === 'platform') request.log.error({ err, url: request.url, method: request.method }, e.message);
    void reply.status(e.status).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}`,
      code: 'not_found',
      fault: 'user',
      hint: 'see /openapi.json for the endpoints this server has',
    });
  });
  return app;
}

function fastifyErrorToAloft(err: unknown): ReturnType<typeof asAloftError> {
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err instanceof SyntaxError && (err as { statusCode?: number }).statusCode === 400)) {
    return new ValidationError(`malformed JSON body: ${(err as Error).message}`, { status: 400, hint: 'send a valid JSON object' });
  }
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new ValidationError('the JSON body is empty', { status: 400, hint: 'send a JSON object, or drop the content-type header' });
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ValidationError(`request body is larger than ${jsonBodyBytesMax} bytes`, { status: 413 });
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ValidationError('unsupported content type', { status: 415, hint: 'send application/json' });
  }
  return asAloftError(err);
}

/** A JSON body as an object, or a 400 that says what came instead. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError(`the request body must be a JSON object, not ${Array.isArray(body) ? 'an array' : typeof body}`, {
      status: 400,
    });
  }
  return body as Record<string, unknown>;
}
