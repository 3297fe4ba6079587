/**
 * Per-source accounting, so one client cannot take the server from the others: a token bucket
 * of queries, and counters of forwarded questions and TCP connections, per source address.
 */
import type { Clock } from '../lib/clock.ts';
import type { DnsLimits } from './limits.ts';

interface SourceState {
  tokens: number;
  refilledAtMs: number;
  forwards: number;
  connections: number;
}

export class SourceLimits {
  private readonly limits: DnsLimits;
  private readonly clock: Clock;
  /** In least-recently-seen order (re-inserted on every touch), so the first key is the one to forget. */
  private readonly sources = new Map<string, SourceState>();
  private readonly totals = { forwards: 0, connections: 0 };

  constructor(limits: DnsLimits, clock: Clock) {
    this.limits = limits;
    this.clock = clock;
  }

  /** Takes one query's token; false when the source is over its rate. */
  takeQuery(source: string): boolean {
    const s = this.touch(source);
    const now = this.clock.monotonicMs();
    s.tokens = Math.min(this.limits.sourceQueriesBurst, s.tokens + ((now - s.refilledAtMs) / 1000) * this.limits.sourceQueriesPerSecond);
    s.refilledAtMs = now;
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }

  /** Claims a forward slot; call the returned release exactly once. Null when over a bound. */
  claimForward(source: string): (() => void) | null {
    return this.claim(source, 'forwards', this.limits.sourceForwardsInFlightMax, this.limits.forwardsInFlightMax);
  }

  /** Claims a TCP connection slot; call the returned release exactly once. Null when over a bound. */
  claimConnection(source: string): (() => void) | null {
    return this.claim(source, 'connections', this.limits.sourceTcpConnectionsMax, this.limits.tcpConnectionsMax);
  }

  private claim(source: string, kind: 'forwards' | 'connections', perSourceMax: number, totalMax: number): (() => void) | null {
    const s = this.touch(source);
    if (s[kind] >= perSourceMax || this.totals[kind] >= totalMax) return null;
    s[kind] += 1;
    this.totals[kind] += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      s[kind] -= 1;
      this.totals[kind] -= 1;
    };
  }

  private touch(source: string): SourceState {
    let s = this.sources.get(source);
    if (s === undefined) {
      s = { tokens: this.limits.sourceQueriesBurst, refilledAtMs: this.clock.monotonicMs(), forwards: 0, connections: 0 };
    } else {
      this.sources.delete(source);
    }
    this.sources.set(source, s);
    // A forgotten source with claims still out keeps its counts through the state its releases
    // hold; it only loses its bucket, which refills as if it were new.
    if (this.sources.size > this.limits.sourcesTrackedMax) this.sources.delete(this.sources.keys().next().value!);
    return s;
  }
}
