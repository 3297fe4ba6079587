/**
 * A transmit-limited queue (SWIM's piggyback buffer): each item goes out in a bounded number of
 * gossip rounds, least-sent first, and a newer item with the same key replaces an older one.
 * Bounded in items overall and per group, so one noisy origin cannot crowd out the others.
 */
interface Entry<T> {
  key: string;
  group: string;
  item: T;
  bytes: number;
  transmits: number;
  /** Insertion order, to drop the oldest first when full. */
  order: number;
}

export class TransmitQueue<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly perGroup = new Map<string, number>();
  private readonly itemsMax: number;
  private readonly groupItemsMax: number;
  private order = 0;

  constructor(itemsMax: number, groupItemsMax: number = itemsMax) {
    this.itemsMax = itemsMax;
    this.groupItemsMax = groupItemsMax;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Returns false when the item was refused because its group is at its bound. */
  push(key: string, group: string, item: T, bytes: number): boolean {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(old);
    else if ((this.perGroup.get(group) ?? 0) >= this.groupItemsMax) return false;
    if (this.entries.size >= this.itemsMax) this.dropOne();
    this.entries.set(key, { key, group, item, bytes, transmits: 0, order: this.order++ });
    this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
    return true;
  }

  /**
   * Items for one round, least-transmitted first, within `bytesBudget`. Each counts as sent
   * once; items reaching `transmitsMax` leave the queue.
   */
  take(bytesBudget: number, transmitsMax: number): T[] {
    const sorted = [...this.entries.values()].sort((a, b) => a.transmits - b.transmits || a.order - b.order);
    const out: T[] = [];
    let used = 0;
    for (const e of sorted) {
      if (used + e.bytes > bytesBudget && out.length > 0) continue;
      used += e.bytes;
      out.push(e.item);
      e.transmits++;
      if (e.transmits >= transmitsMax) this.remove(e);
    }
    return out;
  }

  private remove(e: Entry<T>): void {
    this.entries.delete(e.key);
    const n = (this.perGroup.get(e.group) ?? 1) - 1;
    if (n === 0) this.perGroup.delete(e.group);
    else this.perGroup.set(e.group, n);
  }

  /** Drops the most-transmitted, then oldest, entry: it has had the most chances to spread. */
  private dropOne(): void {
    let victim: Entry<T> | undefined;
    for (const e of this.entries.values()) {
      if (victim === undefined || e.transmits > victim.transmits || (e.transmits === victim.transmits && e.order < victim.order)) victim = e;
    }
    if (victim !== undefined) this.remove(victim);
  }
}

/** Rounds each item is sent in: grows with log10 of the cluster size, as in SWIM. */
export function transmitRounds(retransmitMult: number, memberCount: number): number {
  return retransmitMult * Math.max(1, Math.ceil(Math.log10(memberCount + 1)));
}
