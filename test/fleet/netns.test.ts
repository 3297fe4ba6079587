/**
 * A fleet as root on the simulated network (ams × 1, iad × 2; oci machines in their own
 * namespaces): a machine in iad is served through the ams proxy with the inter-region delay on
 * the way; machines resolve each other with dig over `.internal` (with the control host stopped
 * too); a host whose namespace is cut off (packets dropped, not refused) is routed around
 * within 5 seconds, measured and printed; fleet down removes every namespace and interface.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fleetDown, isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import { sleep, type Machine } from '../../src/lib/index.ts';
import { topologyPrerequisites } from '../../src/net/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';
import { getThrough, startTestFleet, type TestFleet } from './helpers.ts';

const run = promisify(execFile);
const skip = skipUnlessAvailable(await topologyPrerequisites());
let t: TestFleet;
let prefix: string;
const machines = new Map<string, Machine>();
const proxyOf = (hostId: string): string => t.proxyOf(hostId);

before(async () => {
  if (skip !== false) return;
  t = await startTestFleet(['ams', 'iad'], 2, { network: 'netns' });
  prefix = readFleet(t.dataDir)!.topology!;
  // Two machines in iad, one on each iad host (placement spreads them).
  for (const m of [await t.runMachine('iad'), await t.runMachine('iad')]) machines.set(m.host_id, m);
});

after(async () => {
  if (skip !== false) return;
  await t.stop();
});

describe('a fleet on the simulated network', { skip }, () => {
  it('serves an iad machine through the ams proxy, over the delayed link', async () => {
    assert.deepEqual([...machines.keys()].sort(), ['iad-1', 'iad-2']);
    await eventually('the iad proxy to serve', async () => (await getThrough(proxyOf('iad-1'), t.app)).status === 200);
    await eventually('the ams proxy to serve through iad', async () => (await getThrough(proxyOf('ams-1'), t.app)).region === 'iad');
    /** Median time of a few warm requests through `proxy`, all served in iad. */
    const median = async (proxy: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        const r = await getThrough(proxy, t.app);
        assert.equal(r.status, 200);
        assert.equal(r.region, 'iad');
        assert.ok(r.machine !== undefined && [...machines.values()].some((m) => m.id === r.machine), 'the headers name one of the iad machines');
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[3]!;
    };
    const local = await median(proxyOf('iad-1'));
    const far = await median(proxyOf('ams-1'));
    process.stdout.write(`# served in iad: median ${Math.round(local)} ms through iad, ${Math.round(far)} ms through ams\n`);
    assert.ok(far > local, 'the way through ams crosses the delayed link');
  });

  it('answers on one anycast address, each client reaching the edge nearest to it', async () => {
    const clients = t.fleet.clients!;
    assert.deepEqual(clients.map((c) => [c.region, c.edge_host.split('-')[0]]).sort(), [['ams', 'ams'], ['iad', 'iad']]);
    for (const client of clients) {
      const { stdout } = await run('ip', ['netns', 'exec', client.netns, 'curl', '-s', '-o', '/dev/null', '-D', '-', '-m', '5', '-H', `Host: ${t.app}.aloft.localhost`, `http://${t.fleet.anycast!}/`]);
      assert.match(stdout, /^HTTP\/1\.1 200/, `a client in ${client.region} is served`);
      assert.match(stdout, /aloft-region: iad/i);
    }
  });

  it('machines resolve each other by .internal names, also with the control host stopped', async () => {
    const [a, b] = await Promise.all([...machines.values()].map((m) => t.call<Machine>('GET', `/v1/apps/${t.app}/machines/${m.id}`)));
    const { stdout: namespaces } = await run('ip', ['netns', 'list']);
    const netns = namespaces.split('\n').map((l) => l.split(' ')[0]!).find((n) => n.endsWith(`-${a!.id}`));
    assert.ok(netns !== undefined, `machine ${a!.id} has a network namespace`);
    // dig from inside the machine's namespace: the resolver knows its organization by its 6PN source.
    const dig = async (type: string, name: string): Promise<string[]> =>
      (await run('ip', ['netns', 'exec', netns, 'dig', '@fdaa::3', '+short', '+time=2', '+tries=2', type, name])).stdout.trim().split('\n').filter((l) => l !== '').sort();
    const expected = [a!.private_ip, b!.private_ip].sort();
    assert.deepEqual(await dig('AAAA', `${t.app}.internal`), expected);
    assert.deepEqual(await dig('AAAA', `${b!.id}.vm.${t.app}.internal`), [b!.private_ip]);
    const pid = readFleet(t.dataDir)!.control!.pid;
    process.kill(pid, 'SIGTERM');
    await eventually('the control host to be gone', () => !isFleetProcess(pid, t.dataDir));
    assert.deepEqual(await dig('AAAA', `${t.app}.internal`), expected, 'answers come from the state layer, not the control host');
    assert.equal((await getThrough(proxyOf('ams-1'), t.app)).status, 200, 'and the app keeps serving');
  });

  it('routes around a host whose namespace is cut off within 5 seconds', async () => {
    const victim = machines.get('iad-1')!;
    const survivor = machines.get('iad-2')!;
    const entry = proxyOf('ams-1');
    const killedAt = performance.now();
    await run('ip', ['-n', `${prefix}-h-iad1`, 'link', 'set', 'ul0', 'down']);
    let firstOfRun: number | undefined;
    for (let ok = 0; ok < 20; ) {
      const now = performance.now();
      assert.ok(now - killedAt < 20_000, 'requests never recovered');
      const r = await getThrough(entry, t.app, 1_000).catch(() => undefined);
      if (r?.status === 200 && r.machine === survivor.id) {
        firstOfRun ??= now;
        ok += 1;
      } else {
        firstOfRun = undefined;
        ok = 0;
      }
      await sleep(20);
    }
    const rerouteMs = Math.round(firstOfRun! - killedAt);
    process.stdout.write(`# reroute around a cut-off host (${victim.host_id}): ${rerouteMs} ms\n`);
    assert.ok(rerouteMs <= 5_000, `requests succeeded again after ${rerouteMs} ms (goal ≤ 5000)`);
  });

  it('fleet down removes every namespace and interface', async () => {
    await fleetDown(t.dataDir);
    const { stdout: namespaces } = await run('ip', ['netns', 'list']);
    assert.doesNotMatch(namespaces, new RegExp(`^${prefix}-`, 'm'));
    const { stdout: links } = await run('ip', ['-br', 'link']);
    assert.doesNotMatch(links, new RegExp(`${prefix}-`));
  });
});
