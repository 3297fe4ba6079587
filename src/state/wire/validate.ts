import type { Change, Changeset } from '../crdt/changeset.ts';
import type { Range } from '../crdt/ranges.ts';
import type { StateLimits } from '../limits.ts';
import type { MemberUpdate, Message } from './messages.ts';

/**
 * Shape checks for decoded packets. Anything a peer sends is hostile until proven otherwise:
 * these run before a message reaches protocol code, and return null instead of throwing.
 * Semantic checks of changes (known tables, key spelling) happen in the store before a merge.
 */
const idMax = 64;
const addrMax = 256;

export function validateMessage(x: unknown, limits: StateLimits): Message | null {
  if (!isObject(x) || !isId(x.from) || !isAddr(x.addr)) return null;
  switch (x.t) {
    case 'ping':
      return isSeq(x.seq) && isId(x.target) && isMembers(x.members, limits) ? (x as unknown as Message) : null;
    case 'ack':
      return isSeq(x.seq) && isMembers(x.members, limits) ? (x as unknown as Message) : null;
    case 'pingreq':
      return isSeq(x.seq) && isObject(x.target) && isId(x.target.id) && isAddr(x.target.addr) ? (x as unknown as Message) : null;
    case 'gossip':
    case 'syncresp':
      return isMembers(x.members, limits) && isChangesets(x.changesets) ? (x as unknown as Message) : null;
    case 'syncreq':
      return typeof x.reply === 'boolean' && isMembers(x.members, limits) && isSummary(x.summary, limits) ? (x as unknown as Message) : null;
    default:
      return null;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function isId(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= idMax;
}

function isAddr(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= addrMax;
}

function isSeq(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

function isMembers(x: unknown, limits: StateLimits): x is MemberUpdate[] {
  return Array.isArray(x) && x.length <= limits.membersMax && x.every(isMember);
}

function isMember(x: unknown): x is MemberUpdate {
  return isObject(x) && isId(x.id) && isAddr(x.addr) && isSeq(x.inc) && (x.state === 0 || x.state === 1 || x.state === 2);
}

function isRange(x: unknown): x is Range {
  return Array.isArray(x) && x.length === 2 && isSeq(x[0]) && isSeq(x[1]) && x[0] >= 1 && x[0] <= x[1];
}

function isSummary(x: unknown, limits: StateLimits): boolean {
  if (!Array.isArray(x) || x.length > limits.syncSitesMax) return false;
  return x.every((e) => Array.isArray(e) && e.length === 2 && isId(e[0]) && Array.isArray(e[1]) && e[1].length <= limits.syncRangesPerSiteMax && e[1].every(isRange));
}

function isChangesets(x: unknown): x is Changeset[] {
  return Array.isArray(x) && x.every(isChangeset);
}

function isChangeset(x: unknown): x is Changeset {
  return isObject(x) && isId(x.site) && isSeq(x.from) && isSeq(x.to) && (x.from as number) >= 1 && (x.from as number) <= (x.to as number) && isSeq(x.schema) && Array.isArray(x.changes) && x.changes.every(isChangeTuple);
}

function isChangeTuple(x: unknown): x is Change {
  return Array.isArray(x) && x.length === 8 && typeof x[0] === 'string' && typeof x[1] === 'string' && typeof x[2] === 'string';
}
