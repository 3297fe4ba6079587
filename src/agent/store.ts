import { open, type RootDatabase } from 'lmdb';
import type { OperationLog, OperationRecord } from './fsm/index.ts';
import type { MachineRecord } from './record.ts';

/**
 * The agent's durable local state: machine records and the operation log, in LMDB. Every write
 * is a synchronous, fsynced transaction, so what a step logged survives a SIGKILL.
 * No SQL here on purpose: a narrow key-value interface keeps the blast radius small.
 */
export class AgentStore implements OperationLog {
  readonly #db: RootDatabase;

  constructor(path: string) {
    this.#db = open({ path, compression: false });
  }

  getMachine(id: string): MachineRecord | undefined {
    return this.#db.get(`m/${id}`) as MachineRecord | undefined;
  }

  putMachine(record: MachineRecord): void {
    this.#db.transactionSync(() => {
      void this.#db.put(`m/${record.id}`, record);
    });
  }

  removeMachine(id: string): void {
    this.#db.transactionSync(() => {
      void this.#db.remove(`m/${id}`);
    });
  }

  machines(): MachineRecord[] {
    const out: MachineRecord[] = [];
    for (const { value } of this.#db.getRange({ start: 'm/', end: 'm0' })) out.push(value as MachineRecord);
    return out;
  }

  /** A small durable value (host identity, allocation counters). */
  getMeta<T>(key: string): T | undefined {
    return this.#db.get(`meta/${key}`) as T | undefined;
  }

  putMeta(key: string, value: unknown): void {
    this.#db.transactionSync(() => {
      void this.#db.put(`meta/${key}`, value);
    });
  }

  put(op: OperationRecord): void {
    this.#db.transactionSync(() => {
      void this.#db.put(`o/${op.id}`, op);
    });
  }

  get(id: string): OperationRecord | undefined {
    return this.#db.get(`o/${id}`) as OperationRecord | undefined;
  }

  unfinished(): OperationRecord[] {
    const out: OperationRecord[] = [];
    // Keys are ULIDs, so range order is submission order.
    for (const { value } of this.#db.getRange({ start: 'o/', end: 'o0' })) {
      const op = value as OperationRecord;
      if (op.status === 'running') out.push(op);
    }
    return out;
  }

  remove(id: string): void {
    this.#db.transactionSync(() => {
      void this.#db.remove(`o/${id}`);
    });
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}
