import type { Logger } from '../lib/log.ts';
import { Broadcaster } from './broadcast/gossip.ts';
import type { Changeset } from './crdt/changeset.ts';
import { RangeSet } from './crdt/ranges.ts';
import type { CommitResult, Statement, Store } from './crdt/store.ts';
import { StateRateLimitedError } from './errors.ts';
import type { StateLimits, StateTiming } from './limits.ts';
import { TokenBucket } from './ratelimit.ts';
import type { Runtime } from './runtime.ts';
import { Membership, type Member, type MemberEvent } from './swim/membership.ts';
import { AntiEntropy } from './sync/anti-entropy.ts';
import { type ClusterKey, clusterKeyFrom, decodePacket, encodePacket } from './wire/codec.ts';
import type { Message } from './wire/messages.ts';

export interface NodeOptions {
  store: Store;
  runtime: Runtime;
  /** Address peers reach this node at (what the transport understands, e.g. "127.0.0.1:7000"). */
  address: string;
  /** Shared secret of the cluster; every packet is authenticated with it. */
  clusterKey: Uint8Array;
  seeds: readonly string[];
  timing: StateTiming;
  limits: StateLimits;
  log: Logger;
}

/** Gossiped changesets waiting to be merged at the end of the current turn. */
const inboundChangesetsMax = 4096;

/** Traffic counters, for the benchmark and for operators. */
export interface NodeStats {
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  packetsRejected: number;
  changesetsApplied: number;
  changesetsRateLimited: number;
}

/** Reported when a version range of some site becomes visible on this node. */
export interface AppliedEvent {
  site: string;
  from: number;
  to: number;
}

/**
 * One state node: a CRDT store, SWIM membership, gossip broadcast and anti-entropy sync, wired
 * to a runtime that supplies time, randomness, timers and a packet transport. The same class
 * runs in production and inside the simulator. Methods are synchronous and must be called from
 * the runtime's single thread.
 */
export class StateNode {
  readonly store: Store;
  readonly membership: Membership;
  readonly stats: NodeStats = { packetsSent: 0, bytesSent: 0, packetsReceived: 0, packetsRejected: 0, changesetsApplied: 0, changesetsRateLimited: 0 };
  private readonly rt: Runtime;
  private readonly limits: StateLimits;
  private readonly clusterKey: ClusterKey;
  private readonly log: Logger;
  private readonly broadcaster: Broadcaster;
  private readonly sync: AntiEntropy;
  private readonly localWrites: TokenBucket;
  private readonly remoteBuckets = new Map<string, TokenBucket>();
  private readonly memberListeners = new Set<(e: MemberEvent) => void>();
  private readonly appliedListeners = new Set<(e: AppliedEvent) => void>();
  private running = false;
  private readonly inbound: Changeset[] = [];

  constructor(options: NodeOptions) {
    this.store = options.store;
    this.rt = options.runtime;
    this.limits = options.limits;
    this.clusterKey = clusterKeyFrom(options.clusterKey);
    this.log = options.log;
    const send = (addr: string, message: Message): void => this.send(addr, message);
    const incarnation = Number(this.store.meta('incarnation') ?? '0') + 1;
    this.store.setMeta('incarnation', String(incarnation));
    this.membership = new Membership(
      { id: this.store.siteId, addr: options.address },
      incarnation,
      this.rt,
      options.timing,
      options.limits,
      {
        send,
        onChange: (e) => {
          for (const l of this.memberListeners) l(e);
        },
        persistIncarnation: (inc) => this.store.setMeta('incarnation', String(inc)),
      },
      this.log,
    );
    this.broadcaster = new Broadcaster(this.rt, options.timing, options.limits, this.membership, (addrs, message) => this.sendTo(addrs, message));
    this.sync = new AntiEntropy({
      rt: this.rt,
      timing: options.timing,
      limits: options.limits,
      store: this.store,
      membership: this.membership,
      seeds: options.seeds,
      send,
      apply: (cs) => this.applyRemote(cs, false),
      log: this.log,
    });
    this.localWrites = new TokenBucket(options.limits.localWritesPerSecond, options.limits.localWritesBurst, this.rt.now());
  }

  get id(): string {
    return this.store.siteId;
  }

  start(): void {
    this.running = true;
    this.membership.start();
    this.broadcaster.start();
    this.sync.start();
  }

  /** Stops all timers; the store stays open (the caller owns it). */
  stop(): void {
    this.running = false;
    this.membership.stop();
    this.broadcaster.stop();
    this.sync.stop();
  }

  /**
   * Applies write statements atomically as this node's next version and starts gossiping it.
   * Throws StateRateLimitedError when this node's writer exceeds its rate, StateQueryError for
   * bad statements; nothing is written in either case.
   */
  transaction(statements: readonly Statement[]): CommitResult {
    if (!this.localWrites.take(this.rt.now())) {
      throw new StateRateLimitedError(`this node accepts at most ${this.limits.localWritesPerSecond} transactions per second`);
    }
    const result = this.store.transaction(statements);
    if (result.changeset !== null) {
      this.broadcaster.enqueue(result.changeset);
      this.emitApplied(result.changeset);
    }
    return result;
  }

  members(): Member[] {
    return this.membership.list();
  }

  /** Membership changes (join, suspect, dead, alive again); returns an unsubscribe function. */
  onMemberChange(listener: (e: MemberEvent) => void): () => void {
    this.memberListeners.add(listener);
    return () => this.memberListeners.delete(listener);
  }

  /** Versions becoming visible here, local or remote, each reported once; returns an unsubscribe function. */
  onApplied(listener: (e: AppliedEvent) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Entry point of the transport: one packet from the network. Never throws. */
  receive(bytes: Uint8Array): void {
    if (!this.running) return;
    this.stats.packetsReceived++;
    const decoded = decodePacket(bytes, this.clusterKey, this.limits);
    if (!decoded.ok) {
      this.stats.packetsRejected++;
      this.log.debug({ reason: decoded.reason, bytes: bytes.length }, 'dropped a packet');
      return;
    }
    try {
      this.dispatch(decoded.message);
    } catch (err) {
      // A bug or a hostile packet that passed the shape checks must not take the node down.
      this.stats.packetsRejected++;
      this.log.error({ err, type: decoded.message.t, from: decoded.message.from }, 'failed to handle a packet');
    }
  }

  private dispatch(message: Message): void {
    switch (message.t) {
      case 'ping':
      case 'ack':
      case 'pingreq':
        this.membership.handle(message);
        return;
      case 'gossip':
        this.membership.apply(message.members);
        for (const cs of message.changesets) this.queueGossiped(cs);
        return;
      case 'syncreq':
        this.sync.onRequest(message);
        return;
      case 'syncresp':
        this.sync.onResponse(message);
        return;
    }
  }

  /**
   * Gossiped changesets wait for the end of this runtime turn and are merged together in one
   * store transaction: one commit for all the packets that arrived meanwhile instead of one per
   * changeset. Copies of what is already held are dropped at once; beyond the bound, new ones
   * are dropped too and anti-entropy sync brings them.
   */
  private queueGossiped(cs: Changeset): void {
    if (cs.site === this.id || this.store.rangesOf(cs.site).covers(cs.from, cs.to)) return;
    if (this.inbound.length >= inboundChangesetsMax) return;
    this.inbound.push(cs);
    if (this.inbound.length > 1) return;
    this.rt.schedule(0, () => {
      const batch = this.inbound.splice(0);
      if (!this.running) return;
      this.store.batch(() => {
        for (const cs of batch) this.applyGossiped(cs);
      });
    });
  }

  private applyGossiped(cs: Changeset): void {
    try {
      this.applyRemote(cs, true);
    } catch (err) {
      // Caught here so one bad changeset does not roll back the rest of the batch.
      this.stats.packetsRejected++;
      this.log.error({ err, site: cs.site, from: cs.from, to: cs.to }, 'failed to merge a gossiped changeset');
    }
  }

  /**
   * Merges a changeset from a peer. Gossiped ones are rate-limited per origin site (a spamming
   * writer's excess waits for sync, at sync's bounded pace) and forwarded when new.
   */
  private applyRemote(cs: Changeset, viaGossip: boolean): void {
    if (cs.site === this.id || this.store.rangesOf(cs.site).covers(cs.from, cs.to)) return;
    if (viaGossip && !this.remoteBucket(cs.site).take(this.rt.now())) {
      this.stats.changesetsRateLimited++;
      return;
    }
    const fresh = RangeSet.from([[cs.from, cs.to]]).minus(this.store.rangesOf(cs.site), Number.MAX_SAFE_INTEGER);
    const outcome = this.store.apply(cs);
    if (outcome !== 'applied') return;
    this.stats.changesetsApplied++;
    if (viaGossip) this.broadcaster.enqueue(cs);
    for (const [from, to] of fresh) this.emitApplied({ site: cs.site, from, to });
  }

  private remoteBucket(site: string): TokenBucket {
    let bucket = this.remoteBuckets.get(site);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.limits.remoteVersionsPerSitePerSecond, this.limits.remoteVersionsPerSiteBurst, this.rt.now());
      this.remoteBuckets.set(site, bucket);
    }
    return bucket;
  }

  private emitApplied(e: AppliedEvent): void {
    for (const l of this.appliedListeners) l({ site: e.site, from: e.from, to: e.to });
  }

  private send(addr: string, message: Message): void {
    this.sendTo([addr], message);
  }

  /** One message to several peers, encoded and authenticated once: gossip fans out every round. */
  private sendTo(addrs: readonly string[], message: Message): void {
    if (addrs.length === 0) return;
    const bytes = encodePacket(message, this.clusterKey);
    if (bytes.length > this.limits.messageBytesMax) {
      this.log.error({ type: message.t, bytes: bytes.length }, 'refused to send an oversized packet');
      return;
    }
    for (const addr of addrs) {
      this.stats.packetsSent++;
      this.stats.bytesSent += bytes.length;
      this.rt.send(addr, bytes);
    }
  }
}
