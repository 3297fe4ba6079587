import type { Value } from './value.ts';

/**
 * One replicated change, as a tuple to keep packets small:
 * [table, pk (JSON array text), column ('' = the row's existence marker), value,
 *  column version, causal length, db version, sequence within that version].
 */
export type Change = [tbl: string, pk: string, cid: string, val: Value, ver: number, cl: number, dbv: number, seq: number];

/**
 * Every surviving change that site `site` made in versions `from..to` (inclusive). A changeset
 * is always complete for its range: a version whose writes were all overwritten since is
 * simply absent from `changes`, and the receiver still marks it as held.
 */
export interface Changeset {
  site: string;
  from: number;
  to: number;
  /** Schema version of the node that produced this changeset. */
  schema: number;
  changes: Change[];
}

export const rowMarker = '';
