/**
 * A small fleet (2 regions × 1 host, process driver, on a random loopback subnet): hosts join
 * by publishing themselves through the state layer, placement answers per host, and
 * `fleet down` leaves no process behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fleetDown, fleetUp, isFleetProcess, readFleet, type FleetEndpoints } from '../../src/fleet/index.ts';
import { AloftError, requestJson } from '../../src/lib/index.ts';
import { eventually } from '../helpers/eventually.ts';

let dataDir: string;
let fleet: FleetEndpoints;
const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
  requestJson<T>(method, `${fleet.api}${path}`, { token: fleet.token, target: 'the API', ...(body === undefined ? {} : { body }) });

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'aloft-fleet-'));
  fleet = await fleetUp({
    dataDir,
    regions: ['ams', 'iad'],
    hostsPerRegion: 1,
    driver: 'process',
    domain: 'aloft.localhost',
    subnet: 100 + Math.floor(Math.random() * 150),
    hostCapacity: { cpus: 4, memoryMb: 1024 },
  });
});

after(async () => {
  await fleetDown(dataDir);
  await rm(dataDir, { recursive: true, force: true });
});

describe('a fleet of two regions', () => {
  it('puts each host on its own loopback address and names its region in endpoints.json', () => {
    assert.deepEqual(
      fleet.hosts.map((h) => [h.id, h.region]),
      [['ams-1', 'ams'], ['iad-1', 'iad']],
    );
    assert.equal(new Set(fleet.hosts.map((h) => h.address)).size, 2);
    for (const h of fleet.hosts) assert.ok(h.proxy.includes(h.address) && h.agent.includes(h.address), `${h.id} serves on its own address`);
  });

  it('refuses at once, with the reason of each host of the region, when no host fits', async () => {
    await call('POST', '/v1/apps', { app_name: 'fit', org_slug: 'personal' });
    const err = await eventually('the iad host to be known to the API', async () => {
      try {
        await call('POST', '/v1/apps/fit/machines', { region: 'iad', config: { image: 'none:v1', guest: { cpus: 1, memory_mb: 2048 } } });
        return undefined;
      } catch (e) {
        return e instanceof AloftError && e.fault === 'capacity' && (e.details.hosts as Record<string, string>)['iad-1'] !== undefined ? e : undefined;
      }
    }, 15_000);
    assert.match((err.details.hosts as Record<string, string>)['iad-1']!, /^memory/);
    assert.equal((err.details.hosts as Record<string, string>)['ams-1'], undefined, 'only hosts of the asked region are asked');
  });

  it('fleet down ends every process and forgets the fleet', async () => {
    const record = readFleet(dataDir)!;
    assert.equal(record.pids.length, 3, 'control host and two hosts');
    assert.ok(record.pids.every((pid) => isFleetProcess(pid, dataDir)));
    assert.equal(await fleetDown(dataDir), 3);
    assert.ok(record.pids.every((pid) => !isFleetProcess(pid, dataDir)), 'no process is left');
    assert.equal(existsSync(join(dataDir, 'fleet.json')), false);
    assert.equal(existsSync(join(dataDir, 'endpoints.json')), false);
  });
});
