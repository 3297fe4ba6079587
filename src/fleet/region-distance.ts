/**
 * How far a host is from each region, for the order of its `.internal` answers
 * (`top<N>.nearest.of.<app>.internal`, and every AAAA list). The fleet's latency matrix where it
 * has the pair: on the simulated network it is the very delay the relays put on the mesh that
 * carries traffic to those addresses, so it is exact, there from the first query, and not moved
 * by a loaded computer; on a loopback fleet, where every region is this one computer, it stands
 * for the geography the regions are named after. Regions the matrix lacks are as far as this
 * host's proxy measures them (its smoothed RTT to the nearest answering proxy there); regions
 * neither knows come last.
 */
import type { RegionDistance } from '../dns/index.ts';
import { knownRegionRttMs, type LatencyMatrix } from '../net/index.ts';
import type { Peers } from '../proxy/index.ts';

export function hostRegionDistance(matrix: LatencyMatrix, peers: Pick<Peers, 'rtts'>): RegionDistance {
  return (from, to) => {
    const known = knownRegionRttMs(matrix, from, to);
    if (known !== undefined) return known;
    let nearest = Number.POSITIVE_INFINITY;
    for (const p of peers.rtts()) if (p.region === to && p.rttMs !== undefined && p.rttMs < nearest) nearest = p.rttMs;
    return nearest;
  };
}
