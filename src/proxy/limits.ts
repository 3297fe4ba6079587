/**
 * The proxy's bounds and timings, named in one place. Each can be overridden through
 * ProxyOptions.limits (tests use short times); these defaults are what `aloft up` runs with.
 */
export interface ProxyLimits {
  /** Machines tried for one request before giving up; each refused connection moves to the next. */
  attemptsPerRequestMax: number;
  /** Time allowed to connect to a machine (or a peer proxy) before it counts as refusing. */
  connectTimeoutMs: number;
  /** How long a request waits for a slot when every machine is at its hard limit, before a 503. */
  hardLimitWaitMs: number;
  /** Requests of one app in flight through this proxy (waiting ones included); past it, a 503 at once. */
  appInFlightMax: number;
  /** Request bodies up to this size are buffered, so they can be retried and replayed. */
  replayBodyBytesMax: number;
  /** Replays one request may go through (fly-replay followed by fly-replay) before the loop is stopped. */
  replayHopsMax: number;
  /** Bytes of request line and headers a client may send (431 past it). */
  headerBytesMax: number;
  /** Time a client has to send its whole request head (slowloris bound; 408 past it). */
  headersTimeoutMs: number;
  /** Time a new connection may stay silent before its first byte. */
  firstByteTimeoutMs: number;
  /** Time an HTTP/1.1 client connection may idle between requests before it is closed (a request in progress is never cut off by it). */
  keepAliveTimeoutMs: number;
  /** Time a request body may stay silent while the proxy waits for it (slowloris bound; 408 past it). */
  bodyIdleTimeoutMs: number;
  /** Client connections one listener holds at once; past it new ones are refused. */
  listenerConnectionsMax: number;
  /** Client connections from one address at once, across listeners (peer proxies excepted); past it new ones are refused. */
  clientConnectionsPerIpMax: number;
  /** A UDP flow (one client address and port) is forgotten after this long without a datagram either way. */
  udpFlowIdleMs: number;
  /** UDP flows one public UDP port relays at once; a new client's datagrams are dropped past it. */
  udpFlowsPerListenerMax: number;
  /** UDP flows of one app at once, across its ports; a new client's datagrams are dropped past it. */
  udpFlowsPerAppMax: number;
  /** How long autostart holds a request for a stopped machine to accept connections. */
  autostartTimeoutMs: number;
  /** A machine with autostop is stopped after this long without requests or connections. */
  idleStopMs: number;
  /** How often the autostop loop looks for idle machines. */
  autostopIntervalMs: number;
  /** How often each peer proxy's round-trip time is measured. */
  peerPingIntervalMs: number;
}

export const defaultProxyLimits: ProxyLimits = {
  attemptsPerRequestMax: 3,
  connectTimeoutMs: 2_000,
  hardLimitWaitMs: 2_000,
  appInFlightMax: 1_024,
  replayBodyBytesMax: 1024 * 1024,
  replayHopsMax: 3,
  headerBytesMax: 16 * 1024,
  headersTimeoutMs: 10_000,
  firstByteTimeoutMs: 10_000,
  keepAliveTimeoutMs: 65_000,
  bodyIdleTimeoutMs: 10_000,
  listenerConnectionsMax: 8_192,
  clientConnectionsPerIpMax: 256,
  udpFlowIdleMs: 30_000,
  udpFlowsPerListenerMax: 4_096,
  udpFlowsPerAppMax: 2_048,
  autostartTimeoutMs: 15_000,
  idleStopMs: 5 * 60_000,
  autostopIntervalMs: 30_000,
  peerPingIntervalMs: 2_000,
};
