import type { Logger } from '../../lib/log.ts';
import type { Changeset } from '../crdt/changeset.ts';
import { RangeSet } from '../crdt/ranges.ts';
import type { Store } from '../crdt/store.ts';
import { estimateBytes } from '../broadcast/gossip.ts';
import type { StateLimits, StateTiming } from '../limits.ts';
import { sample } from '../random.ts';
import type { Runtime } from '../runtime.ts';
import type { Membership } from '../swim/membership.ts';
import type { Message, SyncRequest, SyncResponse } from '../wire/messages.ts';

/** Versions fetched in one changeset of a sync response; bigger gaps are split. */
const syncChunkVersions = 64;

/**
 * Anti-entropy: every `syncIntervalMs` this node sends a random peer the version ranges it
 * holds per site; the peer answers with every version it holds that this node lacks (bounded
 * per round), and asks back if this node holds something it lacks. Member tables travel with
 * both (push-pull), and some rounds go to members believed dead, so partitions heal and a
 * node that was down catches up completely.
 */
export class AntiEntropy {
  private readonly rt: Runtime;
  private readonly timing: StateTiming;
  private readonly limits: StateLimits;
  private readonly store: Store;
  private readonly membership: Membership;
  private readonly seeds: readonly string[];
  private readonly send: (addr: string, message: Message) => void;
  private readonly apply: (cs: Changeset) => void;
  private readonly log: Logger;
  private cancel: (() => void) | null = null;
  private stopped = false;

  constructor(options: {
    rt: Runtime;
    timing: StateTiming;
    limits: StateLimits;
    store: Store;
    membership: Membership;
    seeds: readonly string[];
    send: (addr: string, message: Message) => void;
    apply: (cs: Changeset) => void;
    log: Logger;
  }) {
    this.rt = options.rt;
    this.timing = options.timing;
    this.limits = options.limits;
    this.store = options.store;
    this.membership = options.membership;
    this.seeds = options.seeds.filter((s) => s !== options.membership.self.addr);
    this.send = options.send;
    this.apply = options.apply;
    this.log = options.log;
  }

  /** Joins through the seeds at once, then syncs periodically. */
  start(): void {
    for (const seed of this.seeds) this.request(seed, false);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  /** Sends one sync request now (used by tests and by the periodic round). */
  request(addr: string, reply: boolean): void {
    const self = this.membership.self;
    this.send(addr, { t: 'syncreq', from: self.id, addr: self.addr, summary: this.store.summary(), members: this.membership.snapshot(), reply });
  }

  onRequest(req: SyncRequest): void {
    this.membership.apply(req.members);
    const theirs = new Map(req.summary.map(([site, ranges]) => [site, RangeSet.from(ranges)]));
    const self = this.membership.self;
    let batch: Changeset[] = [];
    let batchBytes = 0;
    let versionsLeft = this.limits.syncVersionsPerResponseMax;
    const flush = (): void => {
      this.send(req.addr, { t: 'syncresp', from: self.id, addr: self.addr, members: batch.length === 0 ? this.membership.snapshot() : [], changesets: batch });
      batch = [];
      batchBytes = 0;
    };
    for (const [site, ranges] of this.store.summary()) {
      const missing = RangeSet.from(ranges).minus(theirs.get(site) ?? new RangeSet(), this.limits.syncRangesPerSiteMax);
      for (const [start, end] of missing) {
        for (let from = start; from <= end && versionsLeft > 0; ) {
          const to = Math.min(end, from + Math.min(syncChunkVersions, versionsLeft) - 1);
          const cs = this.store.changesetFor(site, from, to);
          const bytes = estimateBytes(cs);
          if (batchBytes + bytes > this.limits.messageBytesMax / 2 && batch.length > 0) flush();
          batch.push(cs);
          batchBytes += bytes;
          versionsLeft -= to - from + 1;
          from = to + 1;
        }
      }
    }
    flush();
    if (!req.reply && this.theyHoldWhatIMiss(theirs)) this.request(req.addr, true);
  }

  onResponse(resp: SyncResponse): void {
    this.membership.apply(resp.members);
    for (const cs of resp.changesets) this.apply(cs);
  }

  private theyHoldWhatIMiss(theirs: Map<string, RangeSet>): boolean {
    for (const [site, set] of theirs) {
      if (set.minus(this.store.rangesOf(site), 1).length > 0) return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.stopped) return;
    const jitterMs = this.rt.random.next() * this.timing.syncIntervalMs * 0.2;
    this.cancel = this.rt.schedule(this.timing.syncIntervalMs * 0.9 + jitterMs, () => {
      this.round();
      this.schedule();
    });
  }

  private round(): void {
    const reachable = this.membership.reachable();
    const dead = this.membership.dead();
    const useDead = dead.length > 0 && (reachable.length === 0 || this.rt.random.next() < this.timing.syncDeadMemberChance);
    const target = sample(this.rt.random, useDead ? dead : reachable, 1)[0];
    if (target !== undefined) this.request(target.addr, false);
    else if (this.seeds.length > 0) {
      // Alone: keep knocking on the seeds, so a node that started before them still joins.
      this.request(sample(this.rt.random, this.seeds, 1)[0]!, false);
      this.log.debug('no known peers; asked a seed');
    }
  }
}
