/**
 * What the state layer last carried about machines, read from the control host's own state node.
 * The API asks hosts for their machines; this is only for a host that does not answer, so its
 * machines can still be listed with their last published state instead of nothing.
 */
import { z } from 'zod';
import { machineStates, type MachineState } from '../lib/index.ts';
import type { StateHandle } from '../state/index.ts';

export interface RecordedMachine {
  state: MachineState;
  instance_id: string;
  private_ip: string;
  metadata: Record<string, string>;
  /** Milliseconds since the epoch, when its host last published the row. */
  updated_at: number;
}

export interface MachineRecords {
  /** The rows found for these machines; a machine without a row is absent from the map. */
  of(machineIds: readonly string[]): Map<string, RecordedMachine>;
}

/** No state node in this process (`aloft up` before its host runs): nothing is known. */
export const noMachineRecords: MachineRecords = { of: () => new Map() };

// Rows arrive by gossip from other hosts: each is checked before it is believed.
const rowSchema = z.tuple([
  z.string(),
  z.enum(machineStates),
  z.string(),
  z.string(),
  z.string().transform(safeJson).pipe(z.record(z.string(), z.string())),
  z.number(),
]);

/** Reads the `machines` table of `state()`, the node running when asked (none yet: nothing known). */
export function stateMachineRecords(state: () => Pick<StateHandle, 'query'> | undefined): MachineRecords {
  return {
    of(machineIds) {
      const node = state();
      const found = new Map<string, RecordedMachine>();
      if (node === undefined || machineIds.length === 0) return found;
      const marks = machineIds.map(() => '?').join(', ');
      const { rows } = node.query(`SELECT id, state, instance_id, private_ip, metadata, updated_at FROM machines WHERE id IN (${marks})`, [...machineIds]);
      for (const values of rows) {
        const row = rowSchema.safeParse(values);
        if (!row.success) continue;
        const [id, machineState, instanceId, privateIp, metadata, updatedAt] = row.data;
        found.set(id, { state: machineState, instance_id: instanceId, private_ip: privateIp, metadata, updated_at: updatedAt });
      }
      return found;
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
