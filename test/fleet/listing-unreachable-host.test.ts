/**
 * A host that does not answer breaks neither the listing of apps without machines on it nor that
 * of apps with: on a fleet of two hosts (one per region), app A runs on the first and app B on
 * the second. With the second hung (stopped) and then dead (killed), A lists at once, and B lists
 * within the listing deadline with its machine as last known and host_status 'unreachable'.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listingDeadlineMs } from '../../src/api/machine-listing.ts';
import { isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import { requestJson, type Machine } from '../../src/lib/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { getThrough, startTestFleet, webConfig, type TestFleet } from './helpers.ts';

/** Room for a loaded computer beyond the deadline itself: the API's own work and the HTTP round trip. */
const slackMs = 1_500;

let t: TestFleet;
let appB: string;
let machineA: Machine;
/** As its host listed it while it answered. */
let machineB: Machine;
let silentPid: number | undefined;

/** A listing with its own bound, so a listing that waits on the silent host fails here instead of hanging the test. */
async function timedList(app: string): Promise<{ ms: number; machines: Machine[] }> {
  const started = performance.now();
  const machines = await requestJson<Machine[]>('GET', `${t.fleet.api}/v1/apps/${app}/machines`, { token: t.fleet.token, target: 'the API', timeoutMs: 10_000 });
  return { ms: performance.now() - started, machines };
}

const cli = (args: string[]) => runCli(['--data-dir', join(t.dataDir, 'cli'), '--api-url', t.fleet.api, '--access-token', t.fleet.token, ...args]);

before(async () => {
  t = await startTestFleet(['ams', 'iad'], 1);
  machineA = await t.runMachine('ams');
  appB = `${t.app}b`;
  await t.call('POST', '/v1/apps', { app_name: appB, org_slug: 'personal' });
  // App A's image (same organization), with metadata to see carried over from the state layer.
  const created = await t.call<Machine>('POST', `/v1/apps/${appB}/machines`, { region: 'iad', config: { ...webConfig(t.app), metadata: { fly_process_group: 'web' } } });
  await t.call('GET', `/v1/apps/${appB}/machines/${created.id}/wait?state=started&timeout=30`);
  machineB = (await t.call<Machine[]>('GET', `/v1/apps/${appB}/machines`)).find((m) => m.id === created.id)!;
  assert.notEqual(machineA.host_id, machineB.host_id);
  // B's row has spread through the state layer once the other host's proxy routes to it.
  await eventually('app B to be served through the first host', async () => (await getThrough(t.proxyOf(machineA.host_id), appB)).machine === machineB.id, 20_000);
  silentPid = readFleet(t.dataDir)!.hosts.find((h) => h.id === machineB.host_id)!.pid;
});

after(async () => {
  // A host left stopped by a failed test could not be stopped by the fleet.
  if (silentPid !== undefined) {
    try {
      process.kill(silentPid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await t?.stop();
});

describe('listing machines while a host does not answer', () => {
  it('with the host hung: A at once, B within the deadline with its machine as last known', async () => {
    process.kill(silentPid!, 'SIGSTOP');

    const a = await timedList(t.app);
    assert.deepEqual(a.machines.map((m) => [m.id, m.host_status]), [[machineA.id, 'ok']]);
    assert.ok(a.ms < listingDeadlineMs, `listing A took ${Math.round(a.ms)} ms`);

    const b = await timedList(appB);
    assert.ok(b.ms < listingDeadlineMs + slackMs, `listing B took ${Math.round(b.ms)} ms`);
    assert.equal(b.machines.length, 1);
    const [listed] = b.machines;
    assert.equal(listed!.host_status, 'unreachable');
    assert.deepEqual(
      { id: listed!.id, name: listed!.name, region: listed!.region, host: listed!.host_id, app: listed!.app_name },
      { id: machineB.id, name: machineB.name, region: 'iad', host: machineB.host_id, app: appB },
    );
    // From the row its host last published to the state layer, which the control host carries.
    assert.deepEqual(
      { state: listed!.state, instance: listed!.instance_id, ip: listed!.private_ip, group: listed!.config.metadata.fly_process_group },
      { state: 'started', instance: machineB.instance_id, ip: machineB.private_ip, group: 'web' },
    );
    assert.ok(Date.parse(listed!.updated_at) > 0, `updated_at '${listed!.updated_at}'`);
  });

  it('with the host dead: B lists at once, and the CLI marks the machine with its host', async () => {
    process.kill(silentPid!, 'SIGKILL');
    await eventually('the host to be gone', () => !isFleetProcess(silentPid!, t.dataDir));

    const b = await timedList(appB);
    assert.deepEqual(b.machines.map((m) => [m.id, m.host_status]), [[machineB.id, 'unreachable']]);
    assert.ok(b.ms < listingDeadlineMs, `listing B took ${Math.round(b.ms)} ms`);

    const marker = `(host ${machineB.host_id} unreachable)`;
    const list = await cli(['machine', 'list', '-a', appB]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(marker), list.stdout);
    const status = await cli(['status', '-a', appB]);
    assert.equal(status.code, 0, status.stderr);
    assert.ok(status.stdout.includes(marker), status.stdout);
    const listA = await cli(['machine', 'list', '-a', t.app]);
    assert.equal(listA.code, 0, listA.stderr);
    assert.ok(listA.stdout.includes(machineA.id) && !listA.stdout.includes('(host '), listA.stdout);
  });

  it('with the host dead: a deploy of B refuses before changing anything, naming the host', async () => {
    const workB = join(t.dataDir, 'deploy-b');
    await mkdir(workB, { recursive: true });
    await writeFile(join(workB, 'fly.toml'), `app = '${appB}'\n\n[build]\n  image = '${t.app}:v1'\n\n[env]\n  GREETING = 'host gone'\n`);
    const deployedB = await cli(['deploy', workB]);
    assert.equal(deployedB.code, 1, deployedB.stderr);
    assert.match(deployedB.stderr, new RegExp(`the agent of host ${machineB.host_id} did not answer, so ${appB}'s machine ${machineB.id} cannot be updated; no machine was changed`));
    assert.doesNotMatch(deployedB.stderr, new RegExp(`host ${machineA.host_id}`));
  });

  it('with the host dead: scale vm refuses before resizing anything, naming the host, not the config', async () => {
    const resized = await cli(['scale', 'vm', 'shared-cpu-2x', '-a', appB]);
    assert.equal(resized.code, 1, resized.stderr);
    assert.match(resized.stderr, new RegExp(`the agent of host ${machineB.host_id} did not answer, so ${appB}'s machine ${machineB.id} cannot be resized; no machine was changed`));
    assert.doesNotMatch(resized.stderr, /image is required/);
  });
});
