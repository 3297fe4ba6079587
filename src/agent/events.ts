import { randomHex, type MachineEvent } from '../lib/index.ts';
import { eventsPerMachineMax, type MachineRecord } from './record.ts';

/** Returns the record with `event` appended, keeping only the newest events. */
export function withEvent(
  record: MachineRecord,
  nowMs: number,
  type: MachineEvent['type'],
  status: string,
  source: MachineEvent['source'],
  request?: MachineEvent['request'],
): MachineRecord {
  const event: MachineEvent = { id: randomHex(8), type, status, source, timestamp: nowMs };
  if (request !== undefined) event.request = request;
  const events = [...record.events, event].slice(-eventsPerMachineMax);
  return { ...record, events };
}
