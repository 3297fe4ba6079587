/**
 * "Nearest" for `top<N>.nearest.of.<app>.internal` and for the order of every AAAA answer: by a
 * region-distance function the fleet supplies (its latency matrix, say), own region first.
 */
import type { DirectoryMachine } from './directory.ts';

/** A distance between two regions (any unit, smaller is nearer); Infinity when unknown. */
export type RegionDistance = (from: string, to: string) => number;

/** Distances as a table, e.g. one-way delays in ms: `{ams: {iad: 40, syd: 140}, …}`; read both ways. */
export type RegionDistanceTable = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** A distance function over a table: 0 within a region, the table's value either way, else Infinity. */
export function regionDistanceFromTable(table: RegionDistanceTable): RegionDistance {
  return (from, to) => {
    if (from === to) return 0;
    return table[from]?.[to] ?? table[to]?.[from] ?? Number.POSITIVE_INFINITY;
  };
}

/** Without a table: the own region, then every other region alike. */
export const ownRegionFirst: RegionDistance = (from, to) => (from === to ? 0 : 1);

/** Machines ordered nearest first from `region`; ties by region then machine id, so answers are stable. */
export function byNearest(machines: readonly DirectoryMachine[], region: string, distance: RegionDistance): DirectoryMachine[] {
  const distances = new Map<string, number>();
  for (const m of machines) {
    if (distances.has(m.region)) continue;
    const d = m.region === region ? 0 : distance(region, m.region);
    distances.set(m.region, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
  }
  // Compared, not subtracted: two unknown (Infinity) distances must tie, not give NaN.
  return machines
    .map((m) => ({ m, d: distances.get(m.region)! }))
    .sort((a, b) => compare(a.d, b.d) || compare(a.m.region, b.m.region) || compare(a.m.id, b.m.id))
    .map(({ m }) => m);
}

/** Plain ordering of numbers or strings (code units, not locale collation: names here are ASCII, and it is far cheaper). */
export function compare<T extends number | string>(x: T, y: T): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
