import type { Random } from './random.ts';

/** Cancels a scheduled callback; calling it after the callback ran does nothing. */
export type Cancel = () => void;

/**
 * What protocol code may do to the outside world (STYLE.md practice 11): read the time, draw
 * randomness, arm timers, and send bytes. The real node backs it with timers and sockets; the
 * simulator with a virtual-time event queue and a simulated network. Nothing else leaks in.
 */
export interface Runtime {
  /** Milliseconds; virtual in the simulator. */
  now(): number;
  random: Random;
  /** Runs `fn` once after `afterMs`. Callbacks never run re-entrantly inside another handler. */
  schedule(afterMs: number, fn: () => void): Cancel;
  /** Sends one packet to an address; best effort, may be lost (the protocols tolerate it). */
  send(address: string, bytes: Uint8Array): void;
}
