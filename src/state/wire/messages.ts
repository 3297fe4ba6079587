import type { Changeset } from '../crdt/changeset.ts';
import type { Range } from '../crdt/ranges.ts';

/** Member states as they travel: 0 alive, 1 suspect, 2 dead. */
export type MemberStateCode = 0 | 1 | 2;

/** What one node believes about one member; higher incarnations override lower ones. */
export interface MemberUpdate {
  id: string;
  addr: string;
  inc: number;
  state: MemberStateCode;
}

/** Fields every message carries: who sent it and where to answer. */
interface Envelope {
  from: string;
  addr: string;
}

/** SWIM direct probe; `target` guards against a reused address answering for someone else. */
export interface Ping extends Envelope {
  t: 'ping';
  seq: number;
  target: string;
  members: MemberUpdate[];
}

export interface Ack extends Envelope {
  t: 'ack';
  seq: number;
  members: MemberUpdate[];
}

/** SWIM indirect probe: "please ping `target` for me and forward its ack with my `seq`". */
export interface PingReq extends Envelope {
  t: 'pingreq';
  seq: number;
  target: { id: string; addr: string };
}

/** Infection-style broadcast of fresh changesets and member updates. */
export interface Gossip extends Envelope {
  t: 'gossip';
  members: MemberUpdate[];
  changesets: Changeset[];
}

/** Anti-entropy pull: the versions I hold per site, and my full member list (push-pull). */
export interface SyncRequest extends Envelope {
  t: 'syncreq';
  summary: Array<[site: string, ranges: Range[]]>;
  members: MemberUpdate[];
  /** True when this request answers another one; such requests never trigger a further one. */
  reply: boolean;
}

export interface SyncResponse extends Envelope {
  t: 'syncresp';
  members: MemberUpdate[];
  changesets: Changeset[];
}

export type Message = Ping | Ack | PingReq | Gossip | SyncRequest | SyncResponse;
