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
  // Every pair of these nine regions, so any fleet of them works without a matrix of its own.
  rttMs: {
    'ams:fra': 8, 'ams:lhr': 8, 'ams:iad': 80, 'ams:ord': 100, 'ams:sjc': 145, 'ams:nrt': 230, 'ams:sin': 160, 'ams:syd': 280,
    'fra:lhr': 14, 'fra:iad': 88, 'fra:ord': 105, 'fra:sjc': 150, 'fra:nrt': 225, 'fra:sin': 155, 'fra:syd': 285,
    'iad:lhr': 76, 'lhr:ord': 95, 'lhr:sjc': 140, 'lhr:nrt': 220, 'lhr:sin': 165, 'lhr:syd': 275,
    'iad:ord': 20, 'iad:sjc': 64, 'iad:nrt': 150, 'iad:sin': 220, 'iad:syd': 200,
    'ord:sjc': 50, 'nrt:ord': 130, 'ord:sin': 210, 'ord:syd': 190,
    'nrt:sjc': 110, 'sin:sjc': 170, 'sjc:syd': 150,
    'nrt:sin': 70, 'nrt:syd': 110,
    'sin:syd': 95,
  },
};

/** RTT between two regions, or undefined when the matrix does not have the pair. */
export function knownRegionRttMs(matrix: LatencyMatrix, a: string, b: string): number | undefined {
  return a === b ? matrix.sameRegionRttMs : (matrix.rttMs[`${a}:${b}`] ?? matrix.rttMs[`${b}:${a}`]);
}

/** RTT between two regions; unknown pairs are a config error naming the pair. */
export function regionRttMs(matrix: LatencyMatrix, a: string, b: string): number {
  const rtt = knownRegionRttMs(matrix, a, b);
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
