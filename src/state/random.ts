import { randomBytes } from 'node:crypto';

/**
 * Randomness enters protocol code only through this interface so a simulation replays exactly
 * from its seed. Production seeds it from the OS.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
}

/** xoshiro128** — small, fast, good statistical quality; deterministic for a given seed. */
export function seededRandom(seed: number): Random {
  let a = splitmix(seed);
  let b = splitmix(a);
  let c = splitmix(b);
  let d = splitmix(c);
  return {
    next(): number {
      const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = rotl(d, 11);
      return result / 4294967296;
    },
  };
}

export function osRandom(): Random {
  return seededRandom(randomBytes(4).readUInt32LE(0));
}

export function randomInt(random: Random, maxExclusive: number): number {
  return Math.floor(random.next() * maxExclusive);
}

/** Up to `count` distinct elements of `items`, chosen uniformly (partial Fisher–Yates on a copy). */
export function sample<T>(random: Random, items: readonly T[], count: number): T[] {
  const copy = items.slice();
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(random, copy.length - i);
    const tmp = copy[i]!;
    copy[i] = copy[j]!;
    copy[j] = tmp;
  }
  return copy.slice(0, n);
}

/** A hex id of `bytes` random bytes from the given source (site ids in the simulator are seeded). */
export function randomHexFrom(random: Random, bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++) out += randomInt(random, 256).toString(16).padStart(2, '0');
  return out;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function splitmix(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
