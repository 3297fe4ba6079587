import type { Logger } from '../../lib/log.ts';
import { TransmitQueue, transmitRounds } from '../broadcast/queue.ts';
import type { StateLimits, StateTiming } from '../limits.ts';
import { sample } from '../random.ts';
import type { Runtime } from '../runtime.ts';
import type { Ack, MemberStateCode, MemberUpdate, Message, Ping, PingReq } from '../wire/messages.ts';

export type MemberState = 'alive' | 'suspect' | 'dead';

/** A member as this node currently believes it to be. */
export interface Member {
  id: string;
  addr: string;
  incarnation: number;
  state: MemberState;
  /** Runtime time of the last state change seen here. */
  sinceMs: number;
}

/** Emitted on every change of a member's state (including first sight). */
export interface MemberEvent {
  member: Member;
  previous: MemberState | null;
}

export interface MembershipHooks {
  send(addr: string, message: Message): void;
  onChange(event: MemberEvent): void;
  /** Called when this node raises its own incarnation (refutation), so it survives restarts. */
  persistIncarnation(incarnation: number): void;
}

const stateCodes: Record<MemberState, MemberStateCode> = { alive: 0, suspect: 1, dead: 2 };
const stateNames: readonly MemberState[] = ['alive', 'suspect', 'dead'];
/** Member updates piggybacked on one ping or ack. */
const piggybackUpdatesMax = 8;
const piggybackBytesMax = 600;
/** A rough upper bound of one encoded member update, for packet budgeting. */
export const memberUpdateBytes = 64;

interface Probe {
  acked: boolean;
  /** Set when this node pings on someone else's behalf (indirect probe). */
  relay?: { addr: string; seq: number };
}

/**
 * SWIM membership without I/O: direct probes, indirect probes through `indirectProbes` peers,
 * suspicion with incarnation numbers and refutation, death after a timeout, and rejoin with a
 * higher incarnation. Updates spread by piggybacking on probes and gossip packets, and by the
 * full member list exchanged in every anti-entropy sync (push-pull).
 */
export class Membership {
  readonly self: { id: string; addr: string };
  private incarnation: number;
  private readonly rt: Runtime;
  private readonly timing: StateTiming;
  private readonly limits: StateLimits;
  private readonly hooks: MembershipHooks;
  private readonly log: Logger;
  private readonly members = new Map<string, Member>();
  private readonly probes = new Map<number, Probe>();
  private readonly updates: TransmitQueue<MemberUpdate>;
  private probeOrder: string[] = [];
  private seq = 0;
  private stopped = false;
  private cancelProbe: (() => void) | null = null;

  constructor(self: { id: string; addr: string }, incarnation: number, rt: Runtime, timing: StateTiming, limits: StateLimits, hooks: MembershipHooks, log: Logger) {
    this.self = self;
    this.incarnation = incarnation;
    this.rt = rt;
    this.timing = timing;
    this.limits = limits;
    this.hooks = hooks;
    this.log = log;
    this.updates = new TransmitQueue(limits.memberQueueItemsMax);
    this.enqueue(this.selfUpdate());
  }

  start(): void {
    this.scheduleProbe(this.rt.random.next() * this.timing.probeIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.cancelProbe?.();
  }

  /** Every member known, this node first. */
  list(): Member[] {
    return [{ id: this.self.id, addr: this.self.addr, incarnation: this.incarnation, state: 'alive', sinceMs: 0 }, ...this.members.values()];
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  /** Other members not believed dead: the ones to gossip with. */
  reachable(): Member[] {
    return [...this.members.values()].filter((m) => m.state !== 'dead');
  }

  dead(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'dead');
  }

  /** Up to a packet's worth of pending member updates. */
  piggyback(bytesBudget: number = piggybackBytesMax): MemberUpdate[] {
    const budget = Math.min(bytesBudget, piggybackUpdatesMax * memberUpdateBytes);
    return this.updates.take(budget, transmitRounds(this.timing.retransmitMult, this.members.size + 1) * 2);
  }

  /** The whole member table, for push-pull during sync. */
  snapshot(): MemberUpdate[] {
    return [this.selfUpdate(), ...[...this.members.values()].slice(0, this.limits.membersMax - 1).map(toUpdate)];
  }

  handle(message: Ping | Ack | PingReq): void {
    if (message.t === 'ping') this.onPing(message);
    else if (message.t === 'ack') this.onAck(message);
    else this.onPingReq(message);
  }

  /** Merges what someone else believes about members. */
  apply(updates: readonly MemberUpdate[]): void {
    for (const u of updates) this.applyOne(u);
  }

  private onPing(ping: Ping): void {
    this.apply(ping.members);
    if (ping.target !== this.self.id) return; // the address now belongs to someone else
    this.hooks.send(ping.addr, { t: 'ack', from: this.self.id, addr: this.self.addr, seq: ping.seq, members: this.piggyback() });
  }

  private onAck(ack: Ack): void {
    this.apply(ack.members);
    const probe = this.probes.get(ack.seq);
    if (probe === undefined) return;
    probe.acked = true;
    if (probe.relay !== undefined) {
      this.hooks.send(probe.relay.addr, { t: 'ack', from: this.self.id, addr: this.self.addr, seq: probe.relay.seq, members: [] });
      this.probes.delete(ack.seq);
    }
  }

  private onPingReq(req: PingReq): void {
    const seq = ++this.seq;
    this.probes.set(seq, { acked: false, relay: { addr: req.addr, seq: req.seq } });
    this.rt.schedule(this.timing.probeIntervalMs, () => this.probes.delete(seq));
    this.sendPing(req.target.id, req.target.addr, seq);
  }

  private scheduleProbe(afterMs: number): void {
    if (this.stopped) return;
    this.cancelProbe = this.rt.schedule(afterMs, () => {
      this.probeNext();
      this.scheduleProbe(this.timing.probeIntervalMs);
    });
  }

  /** One SWIM protocol period: ping, then ping-req after the probe timeout, then suspect. */
  private probeNext(): void {
    const target = this.nextTarget();
    if (target === undefined) return;
    const seq = ++this.seq;
    const probe: Probe = { acked: false };
    this.probes.set(seq, probe);
    this.sendPing(target.id, target.addr, seq);
    this.rt.schedule(this.timing.probeTimeoutMs, () => {
      if (probe.acked || this.stopped) return;
      const helpers = sample(this.rt.random, this.reachable().filter((m) => m.id !== target.id && m.state === 'alive'), this.timing.indirectProbes);
      for (const h of helpers) {
        this.hooks.send(h.addr, { t: 'pingreq', from: this.self.id, addr: this.self.addr, seq, target: { id: target.id, addr: target.addr } });
      }
    });
    this.rt.schedule(this.timing.probeIntervalMs * 0.95, () => {
      this.probes.delete(seq);
      if (probe.acked || this.stopped) return;
      const m = this.members.get(target.id);
      if (m !== undefined && m.state === 'alive' && m.incarnation === target.incarnation) {
        this.applyOne({ id: m.id, addr: m.addr, inc: m.incarnation, state: 1 });
      }
    });
  }

  /** Round-robin over a shuffled list of members not believed dead, as SWIM prescribes. */
  private nextTarget(): Member | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.probeOrder.length > 0) {
        const m = this.members.get(this.probeOrder.pop()!);
        if (m !== undefined && m.state !== 'dead') return m;
      }
      this.probeOrder = sample(this.rt.random, [...this.members.keys()], this.members.size);
    }
    return undefined;
  }

  private sendPing(id: string, addr: string, seq: number): void {
    this.hooks.send(addr, { t: 'ping', from: this.self.id, addr: this.self.addr, seq, target: id, members: this.piggyback() });
  }

  private applyOne(u: MemberUpdate): void {
    if (u.id === this.self.id) {
      this.refute(u);
      return;
    }
    const m = this.members.get(u.id);
    const state = stateNames[u.state]!;
    if (m === undefined) {
      if (this.members.size >= this.limits.membersMax - 1) return;
      this.set({ id: u.id, addr: u.addr, incarnation: u.inc, state, sinceMs: this.rt.now() }, null, u);
      return;
    }
    const newer = u.inc > m.incarnation;
    const same = u.inc === m.incarnation;
    const accept =
      state === 'alive' ? newer : state === 'suspect' ? newer || (same && m.state === 'alive') : newer || (same && m.state !== 'dead');
    if (!accept) return;
    this.set({ id: u.id, addr: u.addr, incarnation: u.inc, state, sinceMs: m.state === state ? m.sinceMs : this.rt.now() }, m.state, u);
  }

  private set(member: Member, previous: MemberState | null, update: MemberUpdate): void {
    this.members.set(member.id, member);
    this.enqueue(update);
    if (member.state === 'suspect') this.armSuspicion(member);
    if (previous !== member.state) {
      this.log.debug({ member: member.id, state: member.state, previous, incarnation: member.incarnation }, 'member state changed');
      this.hooks.onChange({ member: { ...member }, previous });
    }
  }

  /** A suspect that does not refute in time is declared dead. */
  private armSuspicion(member: Member): void {
    const n = Math.max(10, this.members.size + 1);
    const timeoutMs = this.timing.suspicionMult * Math.log10(n) * this.timing.probeIntervalMs;
    this.rt.schedule(timeoutMs, () => {
      const m = this.members.get(member.id);
      if (m !== undefined && m.state === 'suspect' && m.incarnation === member.incarnation) {
        this.applyOne({ id: m.id, addr: m.addr, inc: m.incarnation, state: 2 });
      }
    });
  }

  /** Someone says this node is suspect or dead, or knows an incarnation of ours from a past life. */
  private refute(u: MemberUpdate): void {
    if (u.inc < this.incarnation || (u.inc === this.incarnation && u.state === 0)) return;
    this.incarnation = u.inc + 1;
    this.hooks.persistIncarnation(this.incarnation);
    this.enqueue(this.selfUpdate());
  }

  private selfUpdate(): MemberUpdate {
    return { id: this.self.id, addr: this.self.addr, inc: this.incarnation, state: 0 };
  }

  private enqueue(u: MemberUpdate): void {
    this.updates.push(u.id, u.id, u, memberUpdateBytes);
  }
}

function toUpdate(m: Member): MemberUpdate {
  return { id: m.id, addr: m.addr, inc: m.incarnation, state: stateCodes[m.state] };
}
