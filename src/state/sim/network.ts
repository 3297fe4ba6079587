import type { Random } from '../random.ts';
import type { EventQueue } from './events.ts';

/** Fault knobs of the simulated network; all may change during a run. */
export interface NetworkFaults {
  /** Probability a packet is lost. */
  lossRate: number;
  /** Probability a packet is delivered twice. */
  duplicateRate: number;
  /** Extra random delay, as a fraction of the base latency; makes packets overtake each other. */
  jitterFraction: number;
}

/**
 * A simulated packet network: one-way latency per region pair, loss, duplication, reordering
 * by jitter, and partitions (a node only reaches nodes of its own partition group).
 */
export class SimNetwork {
  readonly faults: NetworkFaults = { lossRate: 0, duplicateRate: 0, jitterFraction: 0.1 };
  private readonly events: EventQueue;
  private readonly random: Random;
  private readonly regionOf = new Map<string, string>();
  private readonly rttMs: (a: string, b: string) => number;
  private readonly receivers = new Map<string, (bytes: Uint8Array) => void>();
  private groups: Map<string, number> | null = null;
  bytesDelivered = 0;

  constructor(events: EventQueue, random: Random, rttMs: (regionA: string, regionB: string) => number) {
    this.events = events;
    this.random = random;
    this.rttMs = rttMs;
  }

  attach(addr: string, region: string, receive: (bytes: Uint8Array) => void): void {
    this.regionOf.set(addr, region);
    this.receivers.set(addr, receive);
  }

  /** A crashed node's address stops receiving. */
  detach(addr: string): void {
    this.receivers.delete(addr);
  }

  /** Splits the nodes into groups that cannot reach each other; null heals. */
  partition(groups: Map<string, number> | null): void {
    this.groups = groups;
  }

  send(from: string, to: string, bytes: Uint8Array): void {
    if (this.groups !== null && this.groups.get(from) !== this.groups.get(to)) return;
    if (this.random.next() < this.faults.lossRate) return;
    const copies = this.random.next() < this.faults.duplicateRate ? 2 : 1;
    const baseMs = this.rttMs(this.regionOf.get(from) ?? '', this.regionOf.get(to) ?? '') / 2;
    for (let i = 0; i < copies; i++) {
      const delayMs = baseMs * (1 + this.random.next() * this.faults.jitterFraction) + 0.05;
      this.events.at(this.events.nowMs + delayMs, () => {
        const receive = this.receivers.get(to);
        if (receive === undefined) return;
        this.bytesDelivered += bytes.length;
        receive(bytes);
      });
    }
  }
}
