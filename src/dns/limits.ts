/** Every bound the DNS server keeps, by name; tests shrink them, production uses the defaults. */
export interface DnsLimits {
  /** Sustained queries per second one source address may make; beyond it, REFUSED. */
  sourceQueriesPerSecond: number;
  /** Queries one source may make at once before the rate applies. */
  sourceQueriesBurst: number;
  /** Source addresses tracked; the least recently seen is forgotten beyond this. */
  sourcesTrackedMax: number;
  /** Forwarded questions one source may have waiting on the upstream at once. */
  sourceForwardsInFlightMax: number;
  /** Forwarded questions waiting on the upstream at once, all sources together. */
  forwardsInFlightMax: number;
  /** How long one upstream gets to answer a forwarded question before the next is tried. */
  upstreamTimeoutMs: number;
  /** TCP connections one source may hold open. */
  sourceTcpConnectionsMax: number;
  /** TCP connections open at once, all sources together. */
  tcpConnectionsMax: number;
  /** A TCP connection with no complete query for this long is closed. */
  tcpIdleTimeoutMs: number;
  /** Queries one TCP connection may have unanswered at once; its reading pauses beyond it. */
  tcpQueriesInFlightMax: number;
}

export const defaultDnsLimits: DnsLimits = {
  sourceQueriesPerSecond: 500,
  sourceQueriesBurst: 1000,
  sourcesTrackedMax: 10_000,
  sourceForwardsInFlightMax: 32,
  forwardsInFlightMax: 1024,
  upstreamTimeoutMs: 2000,
  sourceTcpConnectionsMax: 16,
  tcpConnectionsMax: 1024,
  tcpIdleTimeoutMs: 10_000,
  tcpQueriesInFlightMax: 16,
};

/** DNS's own size limits (RFC 1035, RFC 6891, and the 1232-byte EDNS size of DNS flag day 2020). */
export const udpPayloadBytesClassic = 512;
export const udpPayloadBytesMax = 1232;
export const tcpMessageBytesMax = 65_535;
/** Seconds resolvers may cache an answer or a negative answer: machines come and go quickly. */
export const answerTtlS = 5;
export const negativeTtlS = 5;
