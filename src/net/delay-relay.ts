/**
 * A userspace UDP relay that holds every datagram for a fixed one-way delay, so WireGuard
 * tunnels between simulated regions feel like the real distance (our kernels have no netem).
 * One socket per pair of hosts: a datagram from one side goes to the other after the delay.
 * WireGuard roams to the address a peer's packets come from, and those come from the relay's
 * socket, so both sides keep talking through it.
 *
 * The delay is the same both ways, so each pair's queue is in due order and needs one timer.
 * The queue is bounded: a full one drops, as a router's would.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface RelayEndpoint {
  address: string;
  port: number;
}

export interface RelayPair {
  /** UDP port the relay listens on for this pair (on every address of its namespace). */
  port: number;
  a: RelayEndpoint;
  b: RelayEndpoint;
  oneWayDelayMs: number;
}

/** Datagrams held per pair at most, by default; at 1500 bytes that is 6 MiB in the worst case. */
export const relayQueueDatagramsMax = 4096;

export interface DelayRelayOptions {
  /** Datagrams held per pair at most; more are dropped. Default relayQueueDatagramsMax. */
  queueDatagramsMax?: number;
}

interface Held {
  dueMs: number;
  bytes: Buffer;
  to: RelayEndpoint;
}

export interface RelayCounters {
  /** Accepted into a queue. */
  queued: number;
  forwarded: number;
  dropped_queue_full: number;
  dropped_unknown_sender: number;
  /** Sends the kernel refused (a host cut off, say); the relay carries on. */
  send_errors: number;
}

class PairRelay {
  readonly #pair: RelayPair;
  readonly #queueMax: number;
  readonly #socket: Socket;
  readonly #queue: Held[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly counters: RelayCounters = { queued: 0, forwarded: 0, dropped_queue_full: 0, dropped_unknown_sender: 0, send_errors: 0 };

  constructor(pair: RelayPair, queueMax: number) {
    this.#pair = pair;
    this.#queueMax = queueMax;
    this.#socket = createSocket('udp4');
    this.#socket.on('message', (bytes, from) => this.receive(bytes, from.address));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(this.#pair.port, () => {
        this.#socket.off('error', reject);
        // From now on an error is a datagram that could not go out, never a reason to stop relaying.
        this.#socket.on('error', () => {
          this.counters.send_errors += 1;
        });
        resolve();
      });
    });
  }

  get port(): number {
    return this.#socket.address().port;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#socket.close();
  }

  private receive(bytes: Buffer, fromAddress: string): void {
    const { a, b } = this.#pair;
    const to = fromAddress === a.address ? b : fromAddress === b.address ? a : null;
    if (to === null) {
      this.counters.dropped_unknown_sender += 1;
      return;
    }
    if (this.#queue.length - this.#head >= this.#queueMax) {
      this.counters.dropped_queue_full += 1;
      return;
    }
    this.#queue.push({ dueMs: performance.now() + this.#pair.oneWayDelayMs, bytes, to });
    this.counters.queued += 1;
    if (this.#timer === undefined) this.schedule();
  }

  private schedule(): void {
    const next = this.#queue[this.#head];
    if (next === undefined) {
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => this.release(), Math.max(0, next.dueMs - performance.now()));
  }

  private release(): void {
    const now = performance.now();
    for (let held = this.#queue[this.#head]; held !== undefined && held.dueMs <= now + 0.5; held = this.#queue[this.#head]) {
      this.#head += 1;
      this.#socket.send(held.bytes, held.to.port, held.to.address);
      this.counters.forwarded += 1;
    }
    // Compact now and then so the array does not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    this.schedule();
  }
}

/** Every pair's relay in one process. */
export class DelayRelay {
  readonly #relays: PairRelay[];

  private constructor(relays: PairRelay[]) {
    this.#relays = relays;
  }

  /** Binds every pair's socket (port 0 picks a free one; see `ports`). */
  static async start(pairs: readonly RelayPair[], options: DelayRelayOptions = {}): Promise<DelayRelay> {
    const relays = pairs.map((p) => new PairRelay(p, options.queueDatagramsMax ?? relayQueueDatagramsMax));
    try {
      await Promise.all(relays.map((r) => r.listen()));
    } catch (err) {
      for (const r of relays) r.close();
      throw err;
    }
    return new DelayRelay(relays);
  }

  /** The bound port of each pair, in the order given. */
  ports(): number[] {
    return this.#relays.map((r) => r.port);
  }

  counters(): RelayCounters {
    const total: RelayCounters = { queued: 0, forwarded: 0, dropped_queue_full: 0, dropped_unknown_sender: 0, send_errors: 0 };
    for (const r of this.#relays) for (const key of Object.keys(total) as (keyof RelayCounters)[]) total[key] += r.counters[key];
    return total;
  }

  close(): void {
    for (const r of this.#relays) r.close();
  }
}
