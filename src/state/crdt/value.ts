/** A SQLite value as it travels between nodes. Integers beyond 2^53 are not supported. */
export type Value = null | number | string | Uint8Array;

export function isValue(v: unknown): v is Value {
  return v === null || typeof v === 'string' || v instanceof Uint8Array || (typeof v === 'number' && Number.isFinite(v));
}

/** Total order used to break ties between concurrent writes: null < numbers < text < blobs. */
export function compareValues(a: Value, b: Value): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  return 0;
}

function rank(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'number') return 1;
  if (typeof v === 'string') return 2;
  return 3;
}

/** Values come out of SQLite as Buffers and out of msgpack as Uint8Arrays; normalise for storage. */
export function toSqlValue(v: Value): null | number | string | Buffer {
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : (v as null | number | string | Buffer);
}
