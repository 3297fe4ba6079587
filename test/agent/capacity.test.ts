import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapacityLedger, reservationTtlMs } from '../../src/agent/capacity.ts';
import type { MachineRecord } from '../../src/agent/record.ts';
import { AloftError, machineConfigSchema, type Clock } from '../../src/lib/index.ts';

const clockAt = (start: number): Clock & { advance(ms: number): void } => {
  let now = start;
  return { now: () => now, monotonicMs: () => now, advance: (ms) => void (now += ms) };
};

function machine(state: MachineRecord['state'], memory_mb: number, cpus = 1): MachineRecord {
  const config = machineConfigSchema.parse({ image: 'x', guest: { memory_mb, cpus } });
  return { state, config } as MachineRecord;
}

function refusal(fn: () => unknown): AloftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AloftError);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('capacity ledger (immediate-or-cancel)', () => {
  it('grants within capacity and counts stopped machines, not destroyed ones', () => {
    const ledger = new CapacityLedger({ cpus: 4, memoryMb: 1024 }, clockAt(0));
    const machines = [machine('stopped', 512), machine('destroyed', 1024)];
    const r = ledger.reserve({ cpus: 1, memoryMb: 512 }, machines, 'h1');
    assert.ok(r.id);
    assert.deepEqual(ledger.used(machines), { cpus: 2, memoryMb: 1024 });
  });

  it('refuses at once, naming the resource and the host', () => {
    const ledger = new CapacityLedger({ cpus: 2, memoryMb: 1024 }, clockAt(0));
    const memory = refusal(() => ledger.reserve({ cpus: 1, memoryMb: 2048 }, [], 'h1'));
    assert.equal(memory.code, 'no_capacity');
    assert.equal(memory.fault, 'capacity');
    assert.equal(memory.details.reason, 'memory');
    assert.match(memory.message, /host h1 has 1024 MB of memory free, 2048 MB asked/);
    const cpu = refusal(() => ledger.reserve({ cpus: 3, memoryMb: 256 }, [], 'h1'));
    assert.equal(cpu.details.reason, 'cpu');
    ledger.setCordoned(true);
    assert.equal(refusal(() => ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1')).details.reason, 'cordoned');
  });

  it('holds a reservation until claimed or expired', () => {
    const clock = clockAt(1000);
    const ledger = new CapacityLedger({ cpus: 1, memoryMb: 256 }, clock);
    const r = ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1');
    refusal(() => ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1'));
    clock.advance(reservationTtlMs);
    assert.equal(ledger.claim(r.id), false, 'an expired reservation cannot be claimed');
    const again = ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1');
    assert.equal(ledger.claim(again.id), true);
  });
});
