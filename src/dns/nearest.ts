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

/** Machines ordered nearest first from `region`; ties by machine id, so answers are stable. */
export function byNearest(machines: readonly DirectoryMachine[], region: string, distance: RegionDistance): DirectoryMachine[] {
  const memo = new Map<string, number>();
  const distanceTo = (to: string): number => {
    let d = memo.get(to);
    if (d === undefined) {
      d = to === region ? 0 : distance(region, to);
      memo.set(to, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
    }
    return memo.get(to)!;
  };
  // Compared, not subtracted: two unknown (Infinity) distances must tie, not give NaN.
  const compare = (x: number, y: number): number => (x < y ? -1 : x > y ? 1 : 0);
  return [...machines].sort((a, b) => compare(distanceTo(a.region), distanceTo(b.region)) || a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
}
