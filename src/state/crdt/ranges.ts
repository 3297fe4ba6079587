/**
 * A set of version numbers kept as sorted, disjoint, non-adjacent inclusive ranges. Each node
 * keeps one per site to know exactly which of that site's versions it holds, so a sync can ask
 * for precisely the gaps.
 */
export type Range = readonly [start: number, end: number];

export class RangeSet {
  private ranges: Array<[number, number]> = [];

  static from(ranges: readonly Range[]): RangeSet {
    const set = new RangeSet();
    for (const [s, e] of ranges) set.add(s, e);
    return set;
  }

  list(): readonly Range[] {
    return this.ranges;
  }

  /** Highest version held, 0 when empty. */
  max(): number {
    return this.ranges.length === 0 ? 0 : this.ranges[this.ranges.length - 1]![1];
  }

  has(v: number): boolean {
    const i = this.indexAtOrBefore(v);
    return i >= 0 && this.ranges[i]![1] >= v;
  }

  /** True when every version in `from..to` is held. */
  covers(from: number, to: number): boolean {
    const i = this.indexAtOrBefore(from);
    return i >= 0 && this.ranges[i]![1] >= to;
  }

  add(start: number, end: number): void {
    if (end < start) return;
    const merged: Array<[number, number]> = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < s - 1) merged.push(r);
      else if (r[0] > e + 1) {
        if (!placed) {
          merged.push([s, e]);
          placed = true;
        }
        merged.push(r);
      } else {
        s = Math.min(s, r[0]);
        e = Math.max(e, r[1]);
      }
    }
    if (!placed) merged.push([s, e]);
    this.ranges = merged;
  }

  /** Versions in `[1, upTo]` that are not in this set, capped at `rangesMax` ranges. */
  gaps(upTo: number, rangesMax: number): Range[] {
    const out: Range[] = [];
    let next = 1;
    for (const [s, e] of this.ranges) {
      if (s > upTo || out.length >= rangesMax) break;
      if (s > next) out.push([next, s - 1]);
      next = e + 1;
    }
    if (next <= upTo && out.length < rangesMax) out.push([next, upTo]);
    return out;
  }

  /** Versions in this set but not in `other`, capped at `rangesMax` ranges. */
  minus(other: RangeSet, rangesMax: number): Range[] {
    const out: Range[] = [];
    for (const [s, e] of this.ranges) {
      let cursor = s;
      for (const [os, oe] of other.ranges) {
        if (oe < cursor) continue;
        if (os > e) break;
        if (os > cursor) out.push([cursor, os - 1]);
        cursor = oe + 1;
        if (cursor > e) break;
      }
      if (cursor <= e) out.push([cursor, e]);
      if (out.length >= rangesMax) return out.slice(0, rangesMax);
    }
    return out;
  }

  private indexAtOrBefore(v: number): number {
    let lo = 0;
    let hi = this.ranges.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]![0] <= v) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
