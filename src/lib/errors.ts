/**
 * Errors that cross a boundary (HTTP, CLI, a component's public surface) are AloftErrors:
 * a stable machine-readable `code`, a one-line human `message`, a `hint` saying what to do,
 * and a `fault` saying whose problem it is. Callers branch on `code`, never on message text.
 */

/** Whose fault a failure is; every error a user can meet says this. */
export type Fault =
  | 'user' // bad input or request: fix the request
  | 'config' // the app's configuration is wrong: fix the config
  | 'app' // the user's own program misbehaved (crashed, failed its checks)
  | 'capacity' // no room where it was asked for: try elsewhere or later
  | 'platform'; // ours: a component or host failed

export interface AloftErrorOptions {
  hint?: string;
  /** HTTP status this error maps to at an API boundary. */
  status?: number;
  /** Structured facts (field names, ids, exit codes) that clients can read without parsing text. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AloftError extends Error {
  readonly code: string;
  readonly fault: Fault;
  readonly hint: string | undefined;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: string, fault: Fault, message: string, options: AloftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fault = fault;
    this.hint = options.hint;
    this.status = options.status ?? defaultStatus(fault);
    this.details = options.details ?? {};
  }

  /** The JSON body an API returns for this error; `error` carries the message as Fly clients expect. */
  toJSON(): ErrorBody {
    const body: ErrorBody = { error: this.message, code: this.code, fault: this.fault };
    if (this.hint !== undefined) body.hint = this.hint;
    if (Object.keys(this.details).length > 0) body.details = this.details;
    return body;
  }
}

export interface ErrorBody {
  error: string;
  code: string;
  fault: Fault;
  hint?: string;
  details?: Record<string, unknown>;
}

function defaultStatus(fault: Fault): number {
  switch (fault) {
    case 'user':
    case 'config':
      return 400;
    case 'app':
      return 422;
    case 'capacity':
      return 503;
    case 'platform':
      return 500;
  }
}

/** The request was malformed or names an impossible value (HTTP 400/422). */
export class ValidationError extends AloftError {
  constructor(message: string, options: AloftErrorOptions & { field?: string } = {}) {
    const details = { ...options.details, ...(options.field === undefined ? {} : { field: options.field }) };
    super('invalid_request', 'user', message, { status: 422, ...options, details });
  }
}

/** A named thing (app, machine, volume, image) does not exist or is not visible to the caller. */
export class NotFoundError extends AloftError {
  constructor(kind: string, name: string, options: AloftErrorOptions = {}) {
    super(`${kind}_not_found`, 'user', `${kind} '${name}' not found`, {
      status: 404,
      ...options,
      details: { kind, name, ...options.details },
    });
  }
}

/** The request conflicts with the current state (already started, lease held, name taken). */
export class ConflictError extends AloftError {
  constructor(code: string, message: string, options: AloftErrorOptions = {}) {
    super(code, 'user', message, { status: 409, ...options });
  }
}

/** Missing, malformed or insufficient credentials. */
export class AuthError extends AloftError {
  constructor(code: 'unauthorized' | 'forbidden', message: string, options: AloftErrorOptions = {}) {
    super(code, 'user', message, { status: code === 'unauthorized' ? 401 : 403, ...options });
  }
}

/** A wait or operation did not finish in time; says what it waited for and how long. */
export class TimeoutError extends AloftError {
  constructor(message: string, options: AloftErrorOptions = {}) {
    super('timeout', 'user', message, { status: 408, ...options });
  }
}

/** Something of ours failed: a host, a component, a subprocess. Names which one. */
export class PlatformError extends AloftError {
  constructor(code: string, message: string, options: AloftErrorOptions = {}) {
    super(code, 'platform', message, { status: 500, ...options });
  }
}

/** No host can take the work where it was asked for; fails fast, never queues. */
export class CapacityError extends AloftError {
  constructor(message: string, options: AloftErrorOptions = {}) {
    super('no_capacity', 'capacity', message, { status: 503, ...options });
  }
}

/** Rebuilds a typed error from an API error body, so a client sees the same class the server threw. */
export function errorFromBody(status: number, body: unknown): AloftError {
  if (isErrorBody(body)) {
    return new AloftError(body.code, body.fault, body.error, {
      status,
      ...(body.hint === undefined ? {} : { hint: body.hint }),
      ...(body.details === undefined ? {} : { details: body.details }),
    });
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new PlatformError('bad_response', `unexpected response (HTTP ${status}): ${text.slice(0, 200)}`, { status });
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.error === 'string' && typeof b.code === 'string' && typeof b.fault === 'string';
}

/** Wraps anything thrown into an AloftError; unknown throwables are platform faults (bugs). */
export function asAloftError(err: unknown): AloftError {
  if (err instanceof AloftError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PlatformError('internal', `internal error: ${message}`, { cause: err });
}
