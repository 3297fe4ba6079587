/**
 * The other hosts' proxies and how far away each is. Every proxy measures the round-trip time
 * to each peer itself (a TCP connect to the peer's HTTP listener: one SYN/SYN-ACK, so it
 * carries whatever delay the path between the hosts has), so "nearest region" means nearest as
 * this host sees it now, not as a static table says.
 */
import { connectWithin } from './connect.ts';
import type { Logger } from '../lib/index.ts';

export interface PeerProxy {
  hostId: string;
  region: string;
  /** host:port of the peer proxy's plain HTTP listener (public port 80). */
  address: string;
}

interface Measured extends PeerProxy {
  /** Smoothed round-trip time; undefined until the first ping answers or after a failed one. */
  rttMs: number | undefined;
}

/** Weight of the newest sample in the smoothed RTT. */
const rttSmoothing = 0.3;

export class Peers {
  readonly #selfHostId: string;
  readonly #pingIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  #peers = new Map<string, Measured>();
  #timer: NodeJS.Timeout | undefined;

  readonly #measure: (address: string, timeoutMs: number) => Promise<number | undefined>;

  /** `measureRtt` replaces the TCP-connect measurement (tests give regions fixed distances on loopback). */
  constructor(opts: { selfHostId: string; pingIntervalMs: number; timeoutMs: number; logger: Logger; measureRtt?: (address: string, timeoutMs: number) => Promise<number | undefined> }) {
    this.#measure = opts.measureRtt ?? connectRtt;
    this.#selfHostId = opts.selfHostId;
    this.#pingIntervalMs = opts.pingIntervalMs;
    this.#timeoutMs = opts.timeoutMs;
    this.#logger = opts.logger;
  }

  /** Replaces the peer list (this host's own entry is ignored); known peers keep their RTT. */
  set(peers: readonly PeerProxy[]): void {
    const next = new Map<string, Measured>();
    for (const p of peers) {
      if (p.hostId === this.#selfHostId || p.address === '') continue;
      const old = this.#peers.get(p.hostId);
      next.set(p.hostId, { ...p, rttMs: old?.address === p.address ? old.rttMs : undefined });
    }
    const added = [...next.values()].filter((p) => !this.#peers.has(p.hostId));
    this.#peers = next;
    for (const p of added) void this.#ping(p);
  }

  /** Starts measuring every peer periodically; stop() ends it. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      for (const p of this.#peers.values()) void this.#ping(p);
    }, this.#pingIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Whether a connection from `remoteAddress` comes from a peer proxy (whose forwarding headers are trusted). */
  isPeerAddress(remoteAddress: string | undefined): boolean {
    const ip = (remoteAddress ?? '').replace(/^::ffff:/, '');
    for (const p of this.#peers.values()) if (hostOf(p.address) === ip) return true;
    return false;
  }

  /** Answering peers of the given regions, nearest region first (by its nearest peer), measured before unmeasured. */
  nearestIn(regions: ReadonlySet<string>): PeerProxy[] {
    const alive = [...this.#peers.values()].filter((p) => regions.has(p.region) && p.rttMs !== undefined);
    return alive.sort((a, b) => a.rttMs! - b.rttMs!);
  }

  /** Smoothed RTT to each peer, for status and tests. */
  rtts(): Array<{ hostId: string; region: string; rttMs: number | undefined }> {
    return [...this.#peers.values()].map(({ hostId, region, rttMs }) => ({ hostId, region, rttMs }));
  }

  /** A peer that just refused a forwarded request counts as unreachable until its next ping answers. */
  markDown(hostId: string): void {
    const p = this.#peers.get(hostId);
    if (p !== undefined) p.rttMs = undefined;
  }

  async #ping(p: Measured): Promise<void> {
    const sample = await this.#measure(p.address, this.#timeoutMs);
    // The peer may have been replaced meanwhile; only the current entry is updated.
    if (this.#peers.get(p.hostId) !== p) return;
    if (sample === undefined) {
      if (p.rttMs !== undefined) this.#logger.warn({ peer: p.hostId, region: p.region }, 'peer proxy stopped answering');
      p.rttMs = undefined;
      return;
    }
    p.rttMs = p.rttMs === undefined ? sample : p.rttMs + rttSmoothing * (sample - p.rttMs);
  }
}

/** Milliseconds a TCP connect to `address` takes (one SYN/SYN-ACK round trip), or undefined when it fails. */
async function connectRtt(address: string, timeoutMs: number): Promise<number | undefined> {
  const started = performance.now();
  const socket = await connectWithin(hostOf(address), portOf(address), timeoutMs);
  if (socket === undefined) return undefined;
  socket.destroy();
  return performance.now() - started;
}

export function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return address.slice(0, i).replace(/^\[|\]$/g, '');
}

export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}
