/**
 * The per-host `.internal` resolver, fed by the state layer. Its only public surface.
 * The fleet starts one on every host: `startDnsServer({ state, listen: [{ host: 'fdaa::3', port: 53 }], region })`.
 */
export { startDnsServer, type DnsServer, type DnsServerOptions } from './server.ts';
export { DnsDirectory, type DirectoryMachine, type DirectoryState } from './directory.ts';
export { regionDistanceFromTable, ownRegionFirst, type RegionDistance, type RegionDistanceTable } from './nearest.ts';
export { defaultDnsLimits, type DnsLimits } from './limits.ts';
export type { Upstream } from './forwarder.ts';
export type { Outcome } from './responder.ts';
