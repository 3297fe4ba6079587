import { cpus, totalmem } from 'node:os';
import { CapacityError, randomHex, type Clock } from '../lib/index.ts';
import type { MachineRecord } from './record.ts';
import type { AgentStore } from './store.ts';

export interface HostCapacity {
  cpus: number;
  memoryMb: number;
}

export interface Reservation {
  id: string;
  cpus: number;
  memoryMb: number;
  expiresAtMs: number;
}

/** Shared CPUs are oversubscribed, as on Fly: a shared vCPU is a time slice, not a core. */
export const sharedCpuOversubscription = 16;

/** What this computer can take: its memory, and its cores times the shared-CPU oversubscription. */
export function detectHostCapacity(): HostCapacity {
  return { cpus: cpus().length * sharedCpuOversubscription, memoryMb: Math.floor(totalmem() / 1024 / 1024) };
}

/** A reservation not claimed by a create within this time is released. */
export const reservationTtlMs = 30_000;

/** Where the cordon is kept, in the agent's store: a restarted (or drained) host stays cordoned. */
const cordonKey = 'cordoned';

/**
 * Immediate-or-cancel reservations against this host's capacity: a request is granted at once or
 * refused at once with the reason, never queued. Stopped machines keep their share, because they
 * are pinned here and must be able to start again. The host's cordon is durable; reservations
 * are not (an unclaimed one expires anyway).
 */
export class CapacityLedger {
  readonly #capacity: HostCapacity;
  readonly #clock: Clock;
  readonly #store: Pick<AgentStore, 'getMeta' | 'putMeta'>;
  readonly #reservations = new Map<string, Reservation>();
  readonly #cordonListeners = new Set<(cordoned: boolean) => void>();
  #cordoned: boolean;

  constructor(capacity: HostCapacity, clock: Clock, store: Pick<AgentStore, 'getMeta' | 'putMeta'>) {
    this.#capacity = capacity;
    this.#clock = clock;
    this.#store = store;
    this.#cordoned = store.getMeta<boolean>(cordonKey) ?? false;
  }

  get capacity(): HostCapacity {
    return this.#capacity;
  }

  setCordoned(cordoned: boolean): void {
    if (this.#cordoned === cordoned) return;
    this.#store.putMeta(cordonKey, cordoned);
    this.#cordoned = cordoned;
    for (const listener of this.#cordonListeners) listener(cordoned);
  }

  /** Follows cordons and uncordons (the state publisher republishes the host row). */
  onCordonChange(listener: (cordoned: boolean) => void): () => void {
    this.#cordonListeners.add(listener);
    return () => this.#cordonListeners.delete(listener);
  }

  get cordoned(): boolean {
    return this.#cordoned;
  }

  used(machines: MachineRecord[]): HostCapacity {
    this.#expire();
    let cpus = 0;
    let memoryMb = 0;
    for (const m of machines) {
      if (m.state === 'destroyed') continue;
      // An update in flight may grow the machine: count the larger of the two configs.
      cpus += Math.max(m.config.guest.cpus, m.pendingConfig?.guest.cpus ?? 0);
      memoryMb += Math.max(m.config.guest.memory_mb, m.pendingConfig?.guest.memory_mb ?? 0);
    }
    for (const r of this.#reservations.values()) {
      cpus += r.cpus;
      memoryMb += r.memoryMb;
    }
    return { cpus, memoryMb };
  }

  /** Grants or refuses at once; the error's details say which resource ran out. */
  reserve(request: HostCapacity, machines: MachineRecord[], hostId: string): Reservation {
    if (this.#cordoned) {
      throw new CapacityError(`host ${hostId} is cordoned and takes no new machines`, {
        details: { host: hostId, reason: 'cordoned' },
        hint: 'uncordon the host or place the machine in another region',
      });
    }
    const used = this.used(machines);
    const freeMemoryMb = this.#capacity.memoryMb - used.memoryMb;
    const freeCpus = this.#capacity.cpus - used.cpus;
    if (request.memoryMb > freeMemoryMb) {
      throw new CapacityError(`host ${hostId} has ${freeMemoryMb} MB of memory free, ${request.memoryMb} MB asked`, {
        details: { host: hostId, reason: 'memory', free_memory_mb: freeMemoryMb },
        hint: 'ask for less memory, destroy unused machines, or add hosts',
      });
    }
    if (request.cpus > freeCpus) {
      throw new CapacityError(`host ${hostId} has ${freeCpus} CPUs free, ${request.cpus} asked`, {
        details: { host: hostId, reason: 'cpu', free_cpus: freeCpus },
        hint: 'ask for fewer CPUs, destroy unused machines, or add hosts',
      });
    }
    const reservation: Reservation = { id: randomHex(8), ...request, expiresAtMs: this.#clock.now() + reservationTtlMs };
    this.#reservations.set(reservation.id, reservation);
    return reservation;
  }

  /** Claims a reservation (it becomes the machine's share). Returns false if it expired. */
  claim(id: string): boolean {
    this.#expire();
    return this.#reservations.delete(id);
  }

  release(id: string): void {
    this.#reservations.delete(id);
  }

  #expire(): void {
    const now = this.#clock.now();
    for (const [id, r] of this.#reservations) if (r.expiresAtMs <= now) this.#reservations.delete(id);
  }
}
