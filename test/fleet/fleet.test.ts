/**
 * A small fleet (ams and iad, two hosts each, process driver, on a random loopback subnet):
 * hosts join by publishing themselves through the state layer; placement asks every host of the
 * region and takes the best offer, or refuses at once with each host's reason; operators list,
 * cordon and drain hosts; a machine whose host is gone is a platform fault naming the host; and
 * `fleet down` leaves no process behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fleetDown, isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import type { AloftError, Machine } from '../../src/lib/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { getThrough, startTestFleet, webConfig, type TestFleet } from './helpers.ts';

let t: TestFleet;
const call = <T>(method: string, path: string, body?: unknown): Promise<T> => t.call<T>(method, path, body);
const runMachine = (region: string, memoryMb?: number): Promise<Machine> => t.runMachine(region, memoryMb === undefined ? {} : { memoryMb });

before(async () => {
  t = await startTestFleet(['ams', 'iad'], 2);
});

after(async () => {
  await t.stop();
});

describe('a fleet of two regions', () => {
  it('puts each host on its own loopback address and names its region in endpoints.json', () => {
    assert.deepEqual(
      t.fleet.hosts.map((h) => [h.id, h.region]),
      [
        ['ams-1', 'ams'],
        ['ams-2', 'ams'],
        ['iad-1', 'iad'],
        ['iad-2', 'iad'],
      ],
    );
    assert.equal(new Set(t.fleet.hosts.map((h) => h.address)).size, 4);
    for (const h of t.fleet.hosts) assert.ok(h.proxy.includes(h.address) && h.agent.includes(h.address) && h.dns.startsWith(h.address), `${h.id} serves on its own address`);
  });

  it('places on the host of the region with the lowest utilization after placement', async () => {
    const first = await runMachine('iad', 512);
    const second = await runMachine('iad', 256);
    assert.equal(first.region, 'iad');
    assert.notEqual(second.host_id, first.host_id, 'the empty host is the better fit for the second machine');
    const third = await runMachine('iad', 256);
    assert.equal(third.host_id, second.host_id, `${second.host_id} is at 25%, ${first.host_id} at 50%: the third goes where use stays lowest`);
    const served = await eventually('the machine to answer through its host\'s proxy', async () => {
      const r = await getThrough(t.proxyOf(first.host_id), t.app);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(served.region, 'iad');
  });

  it('refuses at once, with the reason of each host of the region, when no host fits', async () => {
    const started = performance.now();
    const err = await call('POST', `/v1/apps/${t.app}/machines`, { region: 'ams', config: webConfig(t.app, 2048) }).then(
      () => assert.fail('a machine bigger than any host was placed'),
      (e: unknown) => e as AloftError,
    );
    assert.ok(performance.now() - started < 5_000, 'nothing waits in a queue');
    assert.equal(err.fault, 'capacity');
    const reasons = err.details.hosts as Record<string, string>;
    assert.deepEqual(Object.keys(reasons).sort(), ['ams-1', 'ams-2'], 'only the hosts of the asked region are asked');
    for (const reason of Object.values(reasons)) assert.match(reason, /^memory/);
  });

  it('cordons: a cordoned host takes nothing new and says so; hosts list shows it', async () => {
    await call('POST', '/v1/hosts/ams-1/cordon', {});
    const placed = await runMachine('ams');
    assert.equal(placed.host_id, 'ams-2');
    const err = await call('POST', `/v1/apps/${t.app}/machines`, { region: 'ams', config: webConfig(t.app, 1024) }).then(
      () => assert.fail('placed on a full or cordoned host'),
      (e: unknown) => e as AloftError,
    );
    assert.match((err.details.hosts as Record<string, string>)['ams-1']!, /^cordoned/);
    assert.match((err.details.hosts as Record<string, string>)['ams-2']!, /^memory/);
    const listed = await call<Array<{ id: string; region: string; cordoned: boolean; reachable: boolean; machines: number; used: { memory_mb: number } }>>('GET', '/v1/hosts');
    const ams1 = listed.find((h) => h.id === 'ams-1')!;
    const ams2 = listed.find((h) => h.id === 'ams-2')!;
    assert.deepEqual([ams1.cordoned, ams1.reachable, ams1.machines], [true, true, 0]);
    assert.deepEqual([ams2.cordoned, ams2.machines, ams2.used.memory_mb], [false, 1, 256]);
    await call('POST', '/v1/hosts/ams-1/uncordon', {});
  });

  it('drains: each machine is re-created on another host of its region and keeps serving', async () => {
    const before = (await call<Machine[]>('GET', `/v1/apps/${t.app}/machines?region=ams`)).filter((m) => m.host_id === 'ams-2');
    assert.equal(before.length, 1);
    const result = await call<{ moved: Array<{ machine: string; to_machine: string; to_host: string; name: string }>; failed: unknown[] }>('POST', '/v1/hosts/ams-2/drain', {});
    assert.deepEqual(result.failed, []);
    assert.deepEqual(result.moved.map((m) => [m.machine, m.to_host, m.name]), [[before[0]!.id, 'ams-1', before[0]!.name]]);
    const moved = await call<Machine>('GET', `/v1/apps/${t.app}/machines/${result.moved[0]!.to_machine}`);
    assert.equal(moved.host_id, 'ams-1');
    await call('GET', `/v1/apps/${t.app}/machines/${moved.id}/wait?state=started&timeout=30`);
    const after = await call<Machine[]>('GET', `/v1/apps/${t.app}/machines?region=ams`);
    assert.deepEqual(after.map((m) => m.id), [moved.id], 'the original is gone');
    await eventually('the moved machine to answer through its new host\'s proxy', async () => (await getThrough(t.proxyOf('ams-1'), t.app)).status === 200);
    await call('POST', '/v1/hosts/ams-2/uncordon', {});
  });

  it('drains a machine caught between restarts as one meant to run: its copy is launched', async () => {
    const config = { ...webConfig(t.app, 256), init: { entrypoint: ['sh', '-c', 'exit 3'], cmd: [] } };
    const crashing = await call<Machine>('POST', `/v1/apps/${t.app}/machines`, { region: 'ams', config });
    const exits = (m: Machine): number => m.events.filter((e) => e.type === 'exit').length;
    // A few restarts in, its backoff keeps it stopped far longer than started.
    await eventually('the machine to crash and restart a few times', async () => exits(await call<Machine>('GET', `/v1/apps/${t.app}/machines/${crashing.id}`)) >= 4, 20_000);
    const result = await call<{ moved: Array<{ machine: string; to_machine: string }>; failed: unknown[] }>('POST', `/v1/hosts/${crashing.host_id}/drain`, {});
    const move = result.moved.find((m) => m.machine === crashing.id);
    assert.ok(move !== undefined, `moved: ${JSON.stringify(result)}`);
    await eventually('the copy to be launched (and exit, as the original did)', async () => exits(await call<Machine>('GET', `/v1/apps/${t.app}/machines/${move.to_machine}`)) >= 1, 10_000);
    await call('DELETE', `/v1/apps/${t.app}/machines/${move.to_machine}?force=true`);
    await call('POST', `/v1/hosts/${crashing.host_id}/uncordon`, {});
  });

  it('a machine whose host is gone is a platform fault naming the host', async () => {
    const machine = (await call<Machine[]>('GET', `/v1/apps/${t.app}/machines?region=iad`))[0]!;
    const pid = readFleet(t.dataDir)!.hosts.find((h) => h.id === machine.host_id)!.pid;
    process.kill(pid, 'SIGKILL');
    await eventually('the host process to be gone', () => !isFleetProcess(pid, t.dataDir));
    const err = await call('GET', `/v1/apps/${t.app}/machines/${machine.id}`).then(
      () => assert.fail('answered for a machine on a dead host'),
      (e: unknown) => e as AloftError,
    );
    assert.equal(err.fault, 'platform');
    assert.match(err.message, new RegExp(`host ${machine.host_id}`));
    const listed = await call<Array<{ id: string; reachable: boolean }>>('GET', '/v1/hosts');
    assert.equal(listed.find((h) => h.id === machine.host_id)!.reachable, false);
  });

  it('fleet down ends every process and forgets the fleet', async () => {
    const record = readFleet(t.dataDir)!;
    assert.equal(record.pids.length, 5, 'control host and four hosts');
    assert.equal(await fleetDown(t.dataDir), 5);
    assert.ok(record.pids.every((pid) => !isFleetProcess(pid, t.dataDir)), 'no process is left');
    assert.equal(existsSync(join(t.dataDir, 'fleet.json')), false);
    assert.equal(existsSync(join(t.dataDir, 'endpoints.json')), false);
  });
});
