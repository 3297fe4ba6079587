/**
 * A fleet as root on the simulated network (ams × 2, iad × 2; oci machines in their own
 * namespaces): a machine in iad is served through the ams proxy with the inter-region delay on
 * the way; a second fleet given the same subnet is refused and leaves this one alone; a machine
 * of another organization cannot reach this organization's machines over 6PN, nor they it; a
 * host whose agent does not answer holds neither placement nor calls to it for long; machines
 * resolve each other with dig over `.internal` (with the control host stopped too); a host whose
 * namespace is cut off (packets dropped, not refused) is routed around within 5 seconds,
 * measured and printed; fleet down removes every namespace and interface.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AgentClient } from '../../src/agent/index.ts';
import { CentralStore } from '../../src/api/index.ts';
import { placementDeadlineMs } from '../../src/api/placement.ts';
import { buildExampleImage } from '../../src/build/index.ts';
import { fleetDown, fleetUp, isFleetProcess, readFleet } from '../../src/fleet/index.ts';
import { AloftError, randomHex, requestJson, sleep, systemClock, type Machine } from '../../src/lib/index.ts';
import { topologyPrerequisites } from '../../src/net/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { Keyring, mintPlatformToken, mintToken } from '../../src/tokens/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';
import { getThrough, startTestFleet, webConfig, type TestFleet } from './helpers.ts';

const run = promisify(execFile);
const skip = skipUnlessAvailable(await topologyPrerequisites());
let t: TestFleet;
let prefix: string;
let keyring: Keyring;
const machines = new Map<string, Machine>();
/** A machine of another organization's app, in iad too, and calls to the API as that organization. */
let other: Machine;
let otherCall: <T>(method: string, path: string, body?: unknown) => Promise<T>;
const proxyOf = (hostId: string): string => t.proxyOf(hostId);

before(async () => {
  if (skip !== false) return;
  t = await startTestFleet(['ams', 'iad'], 2, { network: 'netns' });
  prefix = readFleet(t.dataDir)!.topology!;
  keyring = await Keyring.load(join(t.dataDir, 'keyring'), systemClock);
  // Two machines in iad, one on each iad host (placement spreads them).
  for (const m of [await t.runMachine('iad'), await t.runMachine('iad')]) machines.set(m.host_id, m);
  other = await runOtherOrgMachine('iad');
});

/**
 * A second organization with its own token, app and image, and a machine of it. The API has no
 * call that makes organizations, so the test makes one in the central store as an operator would.
 */
async function runOtherOrgMachine(region: string): Promise<Machine> {
  const central = new CentralStore(join(t.dataDir, 'central.sqlite'));
  try {
    central.ensureOrg('other', 'Other');
  } finally {
    central.close();
  }
  const token = mintToken({ keyring, org: 'other' });
  const app = `ot${randomHex(3)}`;
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> => requestJson<T>(method, `${t.fleet.api}${path}`, { token, ...(body === undefined ? {} : { body }) });
  otherCall = call;
  await call('POST', '/v1/apps', { app_name: app, org_slug: 'other' });
  const registry = new RegistryClient({ url: t.fleet.registry, credentials: { password: token } });
  try {
    await buildExampleImage(registry, `other/${app}`, 'v1');
  } finally {
    await registry.close();
  }
  const machine = await call<Machine>('POST', `/v1/apps/${app}/machines`, { region, config: webConfig(app) });
  await call('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=started&timeout=30`);
  return call<Machine>('GET', `/v1/apps/${app}/machines/${machine.id}`);
}

/** The network namespace a machine runs in (`<host's machine prefix>-<machine id>`). */
async function netnsOf(machine: Machine): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const netns = stdout.split('\n').map((l) => l.split(' ')[0]!).find((n) => n.endsWith(`-${machine.id}`));
  assert.ok(netns !== undefined, `machine ${machine.id} has a network namespace`);
  return netns;
}

/** The port a machine's web server listens on (webConfig gives each its own). */
const portOf = (machine: Machine): string => machine.config.env.PORT!;

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

  it('refuses a second fleet given the same subnet, naming this one\'s directory, and this one keeps serving', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aloft-fleet-second-'));
    try {
      const subnet = Number(prefix.replace(/^af/, ''));
      await assert.rejects(fleetUp({ dataDir: dir, regions: ['ams'], hostsPerRegion: 1, driver: 'oci', network: 'netns', domain: 'aloft.localhost', subnet }), (err: unknown) => {
        assert.ok(err instanceof AloftError && err.code === 'topology_in_use', String(err));
        assert.ok(err.message.includes(t.dataDir), `the refusal names the running fleet's directory: ${err.message}`);
        return true;
      });
    } finally {
      await fleetDown(dir);
      await rm(dir, { recursive: true, force: true });
    }
    const { stdout: namespaces } = await run('ip', ['netns', 'list']);
    assert.match(namespaces, new RegExp(`^${prefix}-h-iad1`, 'm'), 'the running fleet\'s network is still there');
    assert.equal((await getThrough(proxyOf('ams-1'), t.app)).status, 200);
  });

  it('isolates organizations with real packets: another org\'s machine and ours cannot reach each other over 6PN either way, while ours reach each other', async () => {
    const ours = [...machines.values()].map((m) => t.call<Machine>('GET', `/v1/apps/${t.app}/machines/${m.id}`));
    const [a, b] = await Promise.all(ours);
    assert.notEqual(a!.host_id, b!.host_id, 'our machines are on two hosts');
    assert.ok(other.private_ip.split(':')[2] !== a!.private_ip.split(':')[2], `the other org has its own 6PN prefix (${other.private_ip} vs ${a!.private_ip})`);
    const ping = async (from: Machine, to: Machine): Promise<boolean> =>
      run('ip', ['netns', 'exec', await netnsOf(from), 'busybox', 'ping', '-6', '-c', '1', '-W', '2', to.private_ip]).then(
        () => true,
        () => false,
      );
    const connect = async (from: Machine, to: Machine): Promise<boolean> =>
      run('ip', ['netns', 'exec', await netnsOf(from), 'curl', '-s', '-o', '/dev/null', '-m', '3', `http://[${to.private_ip}]:${portOf(to)}/`]).then(
        () => true,
        () => false,
      );
    // Ours, across hosts: eventually (the mesh learns a host's org prefixes through gossip).
    await eventually('our machines to reach each other', async () => (await ping(a!, b!)) && (await connect(a!, b!)) && (await connect(b!, a!)), 15_000, 200);
    // The other org's machine shares a host with one of ours and is across the mesh from the other.
    assert.ok([a!.host_id, b!.host_id].includes(other.host_id));
    const attempts = [a!, b!].flatMap((ours) => {
      const where = ours.host_id === other.host_id ? 'on the same host' : 'across hosts';
      return [
        { what: `the other org pings ours ${where}`, reached: ping(other, ours) },
        { what: `the other org connects to ours ${where}`, reached: connect(other, ours) },
        { what: `ours pings the other org's ${where}`, reached: ping(ours, other) },
        { what: `ours connects to the other org's ${where}`, reached: connect(ours, other) },
      ];
    });
    for (const { what, reached } of attempts) assert.equal(await reached, false, what);
  });

  it('a host whose agent does not answer holds neither placement in its region nor calls to it for long', async () => {
    const iad1 = t.fleet.hosts.find((h) => h.id === 'iad-1')!;
    const agentPort = new URL(iad1.agent).port;
    // Every packet to iad-1's agent is dropped in its namespace: connections hang, they are not refused.
    const nft = (ruleset: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const child = execFile('ip', ['netns', 'exec', `${prefix}-h-iad1`, 'nft', '-f', '-'], (err) => (err === null ? resolve(undefined) : reject(err)));
        child.stdin!.end(ruleset);
      });
    await nft(`add table inet aloft_test_drop\nadd chain inet aloft_test_drop input { type filter hook input priority -10; }\nadd rule inet aloft_test_drop input tcp dport ${agentPort} drop\n`);
    try {
      const started = performance.now();
      // The other organization's app: our app's machines stay as the later tests expect them.
      const placed = await otherCall<Machine>('POST', `/v1/apps/${other.app_name}/machines`, { region: 'iad', config: webConfig(other.app_name) });
      const placedMs = performance.now() - started;
      process.stdout.write(`# a create in iad with iad-1's agent silent: ${Math.round(placedMs)} ms\n`);
      assert.equal(placed.host_id, 'iad-2');
      assert.ok(placedMs < placementDeadlineMs + 2_500, `placed in ${Math.round(placedMs)} ms (placement waits ${placementDeadlineMs} ms for offers)`);
      await otherCall('DELETE', `/v1/apps/${other.app_name}/machines/${placed.id}?force=true`);

      // A new connection to the silent agent gives up after the connect timeout, not undici's 10 s.
      const agent = new AgentClient(iad1.agent, () => mintPlatformToken(keyring, ['read'], Date.now()), 'iad-1');
      const asked = performance.now();
      const err = await agent.host().then(
        () => assert.fail('a silent agent answered'),
        (e: unknown) => e as AloftError,
      );
      const failedMs = performance.now() - asked;
      assert.equal(err.code, 'unreachable');
      assert.match(err.message, /host iad-1/);
      assert.ok(failedMs < 4_000, `unreachable after ${Math.round(failedMs)} ms`);
    } finally {
      await nft('delete table inet aloft_test_drop\n');
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
