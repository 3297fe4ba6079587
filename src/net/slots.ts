/**
 * Stable per-host slots for machines, persisted in one small JSON file so a machine keeps its
 * addresses across agent restarts. Allocation skips slots whose IPv4 addresses already exist on
 * the host (left by a crash, or by another program), so a lost file cannot cause a collision.
 * Calls are serialized within the process; one agent owns a data directory.
 */
import { randomInt } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CapacityError } from '../lib/errors.ts';
import { randomHex } from '../lib/ids.ts';
import { slotCountMax } from './address-plan.ts';

export class SlotTable {
  private readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** The machine's slot, allocating a free one not in `inUse` if it has none. */
  allocate(machineId: string, inUse: () => Promise<Set<number>>): Promise<number> {
    return this.serialized(async () => {
      const table = await this.read();
      const existing = table[machineId];
      if (existing !== undefined) return existing;
      const taken = new Set([...Object.values(table), ...(await inUse())]);
      // A random starting point: agents of two platforms on one computer (tests, a dev fleet)
      // allocating at the same moment would otherwise both take the lowest free slot before
      // either address exists, and their machines would share an address.
      const start = randomInt(slotCountMax);
      for (let i = 0; i < slotCountMax; i += 1) {
        const slot = (start + i) % slotCountMax;
        if (taken.has(slot)) continue;
        table[machineId] = slot;
        await this.write(table);
        return slot;
      }
      throw new CapacityError(`all ${slotCountMax} machine network slots on this host are in use`);
    });
  }

  /** The machine's slot, or null if it has none. */
  get(machineId: string): Promise<number | null> {
    return this.serialized(async () => (await this.read())[machineId] ?? null);
  }

  release(machineId: string): Promise<void> {
    return this.serialized(async () => {
      const table = await this.read();
      if (table[machineId] === undefined) return;
      delete table[machineId];
      await this.write(table);
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<Record<string, number>> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as Record<string, number>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  private async write(table: Record<string, number>): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${randomHex(4)}`;
    await writeFile(tmp, JSON.stringify(table));
    await rename(tmp, this.path);
  }
}
