/**
 * A failure talking to a machine or a peer proxy. Its code reads like the system's own
 * (ECONNREFUSED, ECONNRESET come through as they are) so the proxy's error bodies name one kind
 * of thing; these are the proxy's additions.
 */
export type UpstreamErrorCode =
  /** The request cannot be written as HTTP/1.1 (a line break in a header value or the target). */
  | 'EBADREQUEST'
  /** The answer is not HTTP/1.1 this proxy can relay (malformed, too large a head, an unasked upgrade). */
  | 'EBADRESPONSE'
  /** The target closed the connection before it finished answering. */
  | 'ECLOSED'
  /** Connecting took longer than the proxy allows. */
  | 'ETIMEDOUT'
  /** The client went away, so the exchange was dropped. */
  | 'ECONNABORTED';

/** A proxy failure with a stable code beside its message; the subclass says which side it concerns. */
abstract class CodedProxyError<Code extends string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ProxyUpstreamError extends CodedProxyError<UpstreamErrorCode> {}

/** An answer head the proxy cannot write to its client (codes as node's own writeHead throws them). */
export type ResponseHeadErrorCode = 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR' | 'ERR_HTTP_HEADERS_SENT';

export class ProxyResponseHeadError extends CodedProxyError<ResponseHeadErrorCode> {}
