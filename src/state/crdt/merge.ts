import { compareValues, type Value } from './value.ts';

/**
 * The merge rule of replicated rows, as a pure join-semilattice so it can be property-tested
 * (commutative, associative, idempotent) apart from SQLite. The store applies exactly this rule.
 *
 * A row has a causal length `cl`: odd means alive, even means deleted; each delete or re-insert
 * after a delete raises it by one. A higher cl wins outright, so a delete beats every write made
 * in the life it ended and a deleted row never comes back unless someone inserts it again
 * after seeing the delete. Within one life each column is last-writer-wins by its column
 * version, then by value, then by site id — a total order, so every node picks the same winner.
 */
export interface Cell {
  /** Column version: the writer's previous version of this cell plus one. */
  ver: number;
  val: Value;
  /** Writer's site id (hex). */
  site: string;
  /** Writer's db version and sequence inside it: where this cell came from. */
  dbv: number;
  seq: number;
}

export interface Origin {
  site: string;
  dbv: number;
  seq: number;
}

export interface RowState {
  cl: number;
  /** Who set the current cl; null when it was learnt implicitly from a cell. */
  clOrigin: Origin | null;
  cells: ReadonlyMap<string, Cell>;
}

export function compareCells(a: Cell, b: Cell): number {
  if (a.ver !== b.ver) return a.ver - b.ver;
  const byValue = compareValues(a.val, b.val);
  if (byValue !== 0) return byValue;
  return compareOrigins(a, b);
}

export function compareOrigins(a: Origin, b: Origin): number {
  if (a.site !== b.site) return a.site < b.site ? -1 : 1;
  if (a.dbv !== b.dbv) return a.dbv - b.dbv;
  return a.seq - b.seq;
}

/** Join of two row states. */
export function mergeRows(a: RowState, b: RowState): RowState {
  if (a.cl !== b.cl) return a.cl > b.cl ? a : b;
  const cells = new Map(a.cells);
  for (const [cid, cell] of b.cells) {
    const mine = cells.get(cid);
    if (mine === undefined || compareCells(cell, mine) > 0) cells.set(cid, cell);
  }
  return { cl: a.cl, clOrigin: maxOrigin(a.clOrigin, b.clOrigin), cells };
}

export function maxOrigin(a: Origin | null, b: Origin | null): Origin | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareOrigins(a, b) >= 0 ? a : b;
}

export function isAlive(cl: number): boolean {
  return cl % 2 === 1;
}
