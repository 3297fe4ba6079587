/** The edge proxy (fly-proxy's role): HTTP, TLS and TCP routing to the nearest healthy machine, scale to zero, replay. */
export { EdgeProxy, attemptsPerRequestMax, type ProxyOptions, type ProxyTls } from './server.ts';
export { RouteTable, type MachineRoute, type Target } from './route-table.ts';
export { defaultProxyLimits, type ProxyLimits } from './limits.ts';
export { Peers, type PeerProxy } from './peers.ts';
export type { MachineControl } from './scale-to-zero.ts';
export type { MachineActivity, RegionActivity } from './activity.ts';
export { proxyErrorHeader, type ProxyErrorCode } from './responses.ts';
