/**
 * Round-trip times between regions for the simulated network. The defaults are roughly what the
 * public internet gives between those cities; a fleet may pass its own.
 */
import { ValidationError } from '../lib/errors.ts';

/** RTTs in ms between pairs of regions, keyed `a:b` (either order); `sameRegionRttMs` within one. */
export interface LatencyMatrix {
  rttMs: Readonly<Record<string, number>>;
  sameRegionRttMs: number;
}

export const defaultLatencyMatrix: LatencyMatrix = {
  sameRegionRttMs: 1,
  rttMs: {
    'ams:iad': 80,
    'ams:syd': 280,
    'iad:syd': 200,
    'ams:lhr': 8,
    'ams:fra': 8,
    'fra:lhr': 14,
    'iad:lhr': 76,
    'fra:iad': 88,
    'iad:ord': 20,
    'ord:sjc': 50,
    'iad:sjc': 64,
    'sjc:syd': 150,
    'nrt:sjc': 110,
    'nrt:syd': 110,
    'sin:syd': 95,
    'nrt:sin': 70,
    'ams:sin': 160,
    'iad:nrt': 150,
    'ams:nrt': 230,
  },
};

/** RTT between two regions; unknown pairs are a config error naming the pair. */
export function regionRttMs(matrix: LatencyMatrix, a: string, b: string): number {
  if (a === b) return matrix.sameRegionRttMs;
  const rtt = matrix.rttMs[`${a}:${b}`] ?? matrix.rttMs[`${b}:${a}`];
  if (rtt === undefined) {
    throw new ValidationError(`the latency matrix has no RTT between regions ${a} and ${b}`, {
      hint: `add '${[a, b].sort().join(':')}' to the matrix, or use regions it knows: ${knownRegions(matrix).join(', ')}`,
    });
  }
  if (!Number.isFinite(rtt) || rtt < 0) throw new ValidationError(`the latency matrix RTT between ${a} and ${b} must be a number of ms ≥ 0, not ${rtt}`);
  return rtt;
}

/** Of `candidates`, the region nearest to `from` by RTT (itself if present); ties go to the first. */
export function nearestRegion(matrix: LatencyMatrix, from: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestRtt = Infinity;
  for (const region of candidates) {
    const rtt = regionRttMs(matrix, from, region);
    if (rtt < bestRtt) {
      best = region;
      bestRtt = rtt;
    }
  }
  return best;
}

export function knownRegions(matrix: LatencyMatrix): string[] {
  return [...new Set(Object.keys(matrix.rttMs).flatMap((k) => k.split(':')))].sort();
}
