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

export class ProxyUpstreamError extends Error {
  readonly code: UpstreamErrorCode;

  constructor(code: UpstreamErrorCode, message: string) {
    super(message);
    this.name = 'ProxyUpstreamError';
    this.code = code;
  }
}

/** An answer head the proxy cannot write to its client (codes as node's own writeHead throws them). */
export type ResponseHeadErrorCode = 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR' | 'ERR_HTTP_HEADERS_SENT';

export class ProxyResponseHeadError extends Error {
  readonly code: ResponseHeadErrorCode;

  constructor(code: ResponseHeadErrorCode, message: string) {
    super(message);
    this.name = 'ProxyResponseHeadError';
    this.code = code;
  }
}
