/**
 * The check runner's lifecycle against a real loopback server and an in-memory machine list:
 * warning until the first probe, passing/critical as the server answers, statuses kept for a
 * still-started machine when the runner is replaced (an agent restart) until its probes answer
 * again, cleared when the machine stops, and fresh for a new instance.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CheckRunner, type CheckedMachines } from '../../src/agent/checks/runner.ts';
import type { MachineRecord } from '../../src/agent/index.ts';
import { machineConfigSchema, silentLogger, sleep, systemClock, type CheckStatus } from '../../src/lib/index.ts';
import { eventually } from '../helpers/eventually.ts';

let server: Server;
let healthy = true;
let probes = 0;

before(async () => {
  server = createServer((_req, res) => {
    probes += 1;
    res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'draining');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Machine records in memory, with the service's change notifications and instance check. */
class Machines implements CheckedMachines {
  readonly records = new Map<string, MachineRecord>();
  readonly #listeners = new Set<(r: MachineRecord) => void>();
  writes = 0;

  list(): MachineRecord[] {
    return [...this.records.values()];
  }
  onChange(listener: (r: MachineRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  put(record: MachineRecord): void {
    this.records.set(record.id, record);
    for (const l of this.#listeners) l(record);
  }
  recordChecks(id: string, instanceId: string, checks: CheckStatus[]): boolean {
    const r = this.records.get(id);
    if (r === undefined || r.instanceId !== instanceId) return false;
    this.writes += 1;
    this.put({ ...r, checks });
    return true;
  }
  checks(id: string): CheckStatus[] {
    return this.records.get(id)?.checks ?? [];
  }
}

function record(over: Partial<MachineRecord> = {}, gracePeriod = '1s'): MachineRecord {
  const port = (server.address() as AddressInfo).port;
  return {
    id: 'm1',
    name: 'm1',
    app: 'a',
    appId: 'a1',
    org: 'personal',
    orgNum: 1,
    region: 'dev',
    hostId: 'h1',
    state: 'started',
    desired: 'started',
    instanceId: 'i1',
    config: machineConfigSchema.parse({ image: 'x', checks: { web: { type: 'http', port, path: '/', interval: '1s', timeout: '10s', grace_period: gracePeriod } } }),
    network: { ipv4: '127.0.0.1', ipv6: '::1' },
    restartCount: 0,
    stopRequested: false,
    events: [],
    metadataVersion: 0,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

const status = (m: Machines): string | undefined => m.checks('m1')[0]?.status;

describe('check runner', () => {
  it('goes warning → passing → critical → passing, writing only on changes', async () => {
    healthy = true;
    const machines = new Machines();
    const runner = new CheckRunner(machines, systemClock, silentLogger());
    machines.put(record());
    runner.start();
    await eventually('the initial warning', () => status(machines) === 'warning', 2_000, 5);
    await eventually('passing', () => status(machines) === 'passing', 15_000);
    const writesWhilePassing = machines.writes;
    const probesBefore = probes;
    await eventually('two more probes', () => probes >= probesBefore + 2, 15_000);
    assert.equal(machines.writes, writesWhilePassing, 'an unchanged result writes nothing');
    healthy = false;
    await eventually('critical', () => status(machines) === 'critical', 15_000);
    assert.equal(machines.checks('m1')[0]!.output, 'HTTP GET /: 503 Service Unavailable: draining');
    healthy = true;
    await eventually('passing again', () => status(machines) === 'passing', 15_000);
    runner.stop();
  });

  it('keeps a still-started machine’s statuses across a runner restart until a probe answers', async () => {
    healthy = false;
    const machines = new Machines();
    const first = new CheckRunner(machines, systemClock, silentLogger());
    machines.put(record());
    first.start();
    await eventually('critical', () => status(machines) === 'critical', 15_000);
    first.stop();
    const criticalSince = machines.checks('m1')[0]!.updated_at;
    healthy = true;
    // The new instance of the runner sees the machine with a long grace period.
    machines.records.set('m1', { ...machines.records.get('m1')!, config: record({}, '3s').config });
    const second = new CheckRunner(machines, systemClock, silentLogger());
    second.start();
    await sleep(100);
    // Within the grace period the old result stands: the machine stays out of routing.
    assert.equal(status(machines), 'critical');
    assert.equal(machines.checks('m1')[0]!.updated_at, criticalSince);
    await eventually('passing after the restart', () => status(machines) === 'passing', 10_000);
    second.stop();
  });

  it('clears statuses when the machine stops and starts fresh for a new instance', async () => {
    healthy = true;
    const machines = new Machines();
    const runner = new CheckRunner(machines, systemClock, silentLogger());
    runner.start();
    machines.put(record());
    await eventually('passing', () => status(machines) === 'passing', 15_000);
    machines.put({ ...machines.records.get('m1')!, state: 'stopping' });
    await eventually('cleared', () => machines.checks('m1').length === 0, 2_000, 5);
    const probesAtStop = probes;
    await sleep(1_300);
    assert.equal(probes, probesAtStop, 'no probes for a stopped machine');
    machines.put({ ...machines.records.get('m1')!, state: 'started', instanceId: 'i2' });
    await eventually('warning for the new instance', () => status(machines) === 'warning', 2_000, 5);
    await eventually('passing for the new instance', () => status(machines) === 'passing', 15_000);
    runner.stop();
  });
});
