// Shared fixtures for the token tests: a settable clock, a one-key keyring, and refusal assertions.
import assert from 'node:assert/strict';
import { AuthError } from '../../src/lib/index.ts';
import type { Clock } from '../../src/lib/index.ts';
import { Keyring, mintToken } from '../../src/tokens/index.ts';
import type { Caveat, TokenRequest } from '../../src/tokens/index.ts';

/** 2023-11-14T22:13:20Z: a fixed instant so expiry tests never depend on the wall clock. */
export const NOW_MS = 1_700_000_000_000;

export class ManualClock implements Clock {
  nowMs: number;
  constructor(nowMs = NOW_MS) {
    this.nowMs = nowMs;
  }
  now(): number {
    return this.nowMs;
  }
  monotonicMs(): number {
    return this.nowMs;
  }
}

export function newKeyring(clock: Clock = new ManualClock()): Keyring {
  const ring = new Keyring(clock);
  ring.generate();
  return ring;
}

/** An admin token for org `acme` plus `caveats`. */
export function adminToken(ring: Keyring, caveats: Caveat[] = [], tokenId = 'root1'): string {
  return mintToken({ keyring: ring, org: 'acme', caveats, tokenId });
}

export function request(overrides: Partial<TokenRequest> = {}): TokenRequest {
  return { org: 'acme', action: 'read', now: NOW_MS, ...overrides };
}

/** Asserts `fn` throws an AuthError with this code and `details.reason`, and returns it. */
export function assertRefused(fn: () => unknown, code: 'unauthorized' | 'forbidden', reason: string): AuthError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AuthError, `expected an AuthError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.details.reason, reason, caught.message);
  return caught;
}
