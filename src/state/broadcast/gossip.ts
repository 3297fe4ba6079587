import type { Changeset } from '../crdt/changeset.ts';
import type { StateLimits, StateTiming } from '../limits.ts';
import { sample } from '../random.ts';
import type { Runtime } from '../runtime.ts';
import type { Membership } from '../swim/membership.ts';
import type { Message } from '../wire/messages.ts';
import { TransmitQueue, transmitRounds } from './queue.ts';

/**
 * Infection-style broadcast of changesets. A fresh changeset (written here, or first received
 * from a peer) is queued; every `gossipIntervalMs` the queue's least-sent items go to
 * `gossipFanout` random reachable peers, each item for a bounded number of rounds. Receivers
 * forward what is new to them, so a write reaches everyone in O(log n) rounds; what gossip
 * misses, anti-entropy sync fills.
 */
export class Broadcaster {
  private readonly rt: Runtime;
  private readonly timing: StateTiming;
  private readonly limits: StateLimits;
  private readonly membership: Membership;
  private readonly send: (addrs: readonly string[], message: Message) => void;
  private readonly queue: TransmitQueue<Changeset>;
  private cancel: (() => void) | null = null;
  private stopped = false;

  constructor(rt: Runtime, timing: StateTiming, limits: StateLimits, membership: Membership, send: (addrs: readonly string[], message: Message) => void) {
    this.rt = rt;
    this.timing = timing;
    this.limits = limits;
    this.membership = membership;
    this.send = send;
    this.queue = new TransmitQueue(limits.broadcastQueueItemsMax, limits.broadcastQueueItemsPerSiteMax);
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  /** Queues a changeset for gossip; false when its origin already fills its share of the queue. */
  enqueue(cs: Changeset): boolean {
    return this.queue.push(`${cs.site}:${cs.from}:${cs.to}`, cs.site, cs, estimateBytes(cs));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancel = this.rt.schedule(this.timing.gossipIntervalMs, () => {
      this.round();
      this.schedule();
    });
  }

  private round(): void {
    const peers = this.membership.reachable();
    if (peers.length === 0) return;
    const rounds = transmitRounds(this.timing.retransmitMult, peers.length + 1);
    const changesets = this.queue.take(this.limits.messageBytesMax / 4, rounds);
    const members = this.membership.piggyback();
    if (changesets.length === 0 && members.length === 0) return;
    const self = this.membership.self;
    const addrs = sample(this.rt.random, peers, this.timing.gossipFanout).map((p) => p.addr);
    this.send(addrs, { t: 'gossip', from: self.id, addr: self.addr, members, changesets });
  }
}

/** A cheap upper estimate of a changeset's encoded size, for packet budgeting. */
export function estimateBytes(cs: Changeset): number {
  let bytes = 48 + cs.site.length;
  for (const c of cs.changes) {
    const v = c[3];
    bytes += 32 + c[0].length + c[1].length + c[2].length + (typeof v === 'string' ? v.length * 3 : v instanceof Uint8Array ? v.length : 9);
  }
  return bytes;
}
