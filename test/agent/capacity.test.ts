import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CapacityLedger, reservationTtlMs, type HostCapacity } from '../../src/agent/capacity.ts';
import { AgentClient, startHostAgent, type HostAgent } from '../../src/agent/index.ts';
import type { MachineRecord } from '../../src/agent/record.ts';
import { AgentStore } from '../../src/agent/store.ts';
import { AloftError, machineConfigSchema, randomHex, silentLogger, systemClock, type Clock } from '../../src/lib/index.ts';
import { Keyring, mintPlatformToken, RevocationList } from '../../src/tokens/index.ts';

let dir: string;
const stores: AgentStore[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-capacity-'));
});

after(async () => {
  for (const store of stores) await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A ledger over a store of its own, as each agent has. */
function newLedger(capacity: HostCapacity, clock: Clock): CapacityLedger {
  const store = new AgentStore(join(dir, randomHex(4)));
  stores.push(store);
  return new CapacityLedger(capacity, clock, store);
}

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
    const ledger = newLedger({ cpus: 4, memoryMb: 1024 }, clockAt(0));
    const machines = [machine('stopped', 512), machine('destroyed', 1024)];
    const r = ledger.reserve({ cpus: 1, memoryMb: 512 }, machines, 'h1');
    assert.ok(r.id);
    assert.deepEqual(ledger.used(machines), { cpus: 2, memoryMb: 1024 });
  });

  it('refuses at once, naming the resource and the host', () => {
    const ledger = newLedger({ cpus: 2, memoryMb: 1024 }, clockAt(0));
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
    const ledger = newLedger({ cpus: 1, memoryMb: 256 }, clock);
    const r = ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1');
    refusal(() => ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1'));
    clock.advance(reservationTtlMs);
    assert.equal(ledger.claim(r.id), false, 'an expired reservation cannot be claimed');
    const again = ledger.reserve({ cpus: 1, memoryMb: 256 }, [], 'h1');
    assert.equal(ledger.claim(again.id), true);
  });
});

describe('cordon across a restart of the agent', () => {
  let agent: HostAgent | undefined;
  const keyring = new Keyring(systemClock);
  keyring.rotate();
  const start = (): Promise<HostAgent> =>
    startHostAgent(
      { dataDir: join(dir, 'agent'), hostId: 'ams-1', hostNum: 1, region: 'ams', registry: { url: 'http://127.0.0.1:9' }, driver: 'process', keyring, revocations: new RevocationList(), logger: silentLogger(), capacity: { cpus: 4, memoryMb: 1024 } },
      0,
      '127.0.0.1',
    );
  const client = (a: HostAgent): AgentClient => new AgentClient(a.url, () => mintPlatformToken(keyring, ['read', 'write'], Date.now()), 'ams-1');

  after(async () => {
    await agent?.stop(true);
  });

  it('a cordoned host that restarts is still cordoned and takes no new machines until uncordoned', async () => {
    agent = await start();
    await client(agent).setCordoned(true);
    await agent.stop(false);
    agent = await start();
    assert.equal((await client(agent).host()).cordoned, true, 'the restarted host is still cordoned');
    const refused = await client(agent).reserve(1, 256).then(
      () => assert.fail('a cordoned host granted a reservation'),
      (err: unknown) => err as AloftError,
    );
    assert.equal(refused.details.reason, 'cordoned');
    await client(agent).setCordoned(false);
    await agent.stop(false);
    agent = await start();
    assert.equal((await client(agent).host()).cordoned, false, 'and an uncordon is kept too');
    assert.ok((await client(agent).reserve(1, 256)).id);
  });
});
