/**
 * A fleet whose every process died at once (SIGKILL: the computer's OOM killer, a crash) is
 * cleaned up by the next `fleet up` in the same directory: what the dead hosts left running is
 * ended, the fleet starts again, and machines that were wanted started serve again.
 */
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fleetUp, isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import { processesInside } from '../../src/fleet/leftovers.ts';
import type { Machine } from '../../src/lib/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { getThrough, startTestFleet, type TestFleet } from './helpers.ts';

let t: TestFleet;
let machine: Machine;

before(async () => {
  t = await startTestFleet(['ams'], 1);
  machine = await t.runMachine('ams');
});

after(async () => {
  await t.stop();
});

it('the next fleet up ends what a crashed fleet left and brings its machines back', async () => {
  const before = readFleet(t.dataDir)!;
  const machinePids = processesInside(join(t.dataDir, 'hosts')).filter((pid) => readlinkSync(`/proc/${pid}/cwd`).includes(machine.id));
  assert.ok(machinePids.length > 0, 'the machine runs');
  for (const pid of before.pids) process.kill(pid, 'SIGKILL');
  await eventually('every fleet process to be gone', () => before.pids.every((pid) => !isFleetProcess(pid, t.dataDir)));
  assert.ok(machinePids.some((pid) => processesInside(join(t.dataDir, 'hosts')).includes(pid)), 'the machine outlived its host');

  const again = await fleetUp({ dataDir: t.dataDir, regions: ['ams'], hostsPerRegion: 1, driver: 'process', network: 'loopback', domain: 'aloft.localhost', subnet: Number(new URL(t.fleet.api).hostname.split('.')[1]) });
  for (const pid of machinePids) assert.equal(processesInside(join(t.dataDir, 'hosts')).includes(pid), false, `leftover machine process ${pid} was ended`);
  assert.notDeepEqual(readFleet(t.dataDir)!.pids, before.pids);
  const served = await eventually('the machine to serve again', async () => {
    const r = await getThrough(again.hosts[0]!.proxy, t.app);
    return r.status === 200 ? r : undefined;
  }, 20_000);
  assert.equal(served.machine, machine.id);
});
