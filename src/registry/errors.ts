/**
 * Registry errors. Every refusal the registry sends is one of the OCI distribution spec's error
 * codes in its JSON shape (`{"errors":[{code,message,detail}]}`), because registry clients
 * (skopeo, docker, containerd) branch on those codes. Inside Aloft they are AloftErrors, so the
 * rest of the platform can treat them like any other error.
 */
import { AloftError, type Fault } from '../lib/errors.ts';

/** The error codes of the OCI distribution spec, and the HTTP status each is sent with by default. */
export const ociErrorStatus = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 415,
  TOOMANYREQUESTS: 429,
} as const;

export type OciErrorCode = keyof typeof ociErrorStatus;

export interface RegistryErrorOptions {
  status?: number;
  detail?: Record<string, unknown>;
  hint?: string;
  /** Extra response headers (Range on a 416, WWW-Authenticate on a 401). */
  headers?: Record<string, string>;
  cause?: unknown;
  fault?: Fault;
}

/** A refusal with an OCI error code; `code` is the OCI code, so callers branch on the spec's names. */
export class RegistryError extends AloftError {
  readonly ociCode: OciErrorCode;
  readonly headers: Record<string, string>;

  constructor(ociCode: OciErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(ociCode, options.fault ?? 'user', message, {
      status: options.status ?? ociErrorStatus[ociCode],
      details: options.detail ?? {},
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.ociCode = ociCode;
    this.headers = options.headers ?? {};
  }

  /** The spec's error body. */
  toOciBody(): OciErrorBody {
    return { errors: [{ code: this.ociCode, message: this.message, detail: this.details }] };
  }
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** Parses an OCI error body back into a RegistryError, for the client; null when it is not one. */
export function registryErrorFromBody(status: number, body: unknown): RegistryError | null {
  if (typeof body !== 'object' || body === null) return null;
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const first = errors[0] as { code?: unknown; message?: unknown; detail?: unknown };
  if (typeof first.code !== 'string' || !(first.code in ociErrorStatus)) return null;
  const detail = typeof first.detail === 'object' && first.detail !== null ? (first.detail as Record<string, unknown>) : {};
  const message = typeof first.message === 'string' ? first.message : first.code;
  return new RegistryError(first.code as OciErrorCode, message, { status, detail });
}
