/**
 * The simulator's virtual time: a priority queue of callbacks ordered by (time, insertion), so
 * two runs with the same seed execute the same events in the same order.
 */
interface Event {
  atMs: number;
  order: number;
  fn: () => void;
}

export class EventQueue {
  private heap: Event[] = [];
  private order = 0;
  nowMs = 0;

  at(atMs: number, fn: () => void): void {
    this.push({ atMs: Math.max(atMs, this.nowMs), order: this.order++, fn });
  }

  /** Runs events up to and including `untilMs`; time then stands at `untilMs`. */
  runUntil(untilMs: number): void {
    while (this.heap.length > 0 && this.heap[0]!.atMs <= untilMs) {
      const e = this.pop();
      this.nowMs = e.atMs;
      e.fn();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Event {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.order < b.order);
}
