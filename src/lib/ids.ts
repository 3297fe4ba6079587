import { randomBytes } from 'node:crypto';

/** Machine ids look like Fly's: 14 lowercase hex characters. */
export function newMachineId(): string {
  return randomBytes(7).toString('hex');
}

/** An opaque id of `bytes` random bytes in hex, for instance ids, nonces and request ids. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Ids that sort by creation time: 48-bit millisecond timestamp then 80 random bits, in Crockford base32. */
export function newUlid(nowMs: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += alphabet[rnd[i]! % 32];
  return time + tail;
}
