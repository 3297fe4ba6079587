/**
 * Autostop on a fleet: the control roles and two hosts of region ams (ams-1, ams-2) in this
 * process on loopback, sharing one state layer, process driver. Every proxy of a region routes
 * straight to machines on the other host too, so autostop is decided by one proxy (ams-1, the
 * lowest id) from every proxy's traffic: a machine on ams-1 kept busy through ams-2's proxy is not
 * stopped, and min_machines_running holds across the region when both proxies run passes at once.
 * Passes are run by the test (the interval is long); activity is published on its own timer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildExampleImage } from '../../src/build/index.ts';
import { startControl, type RunningControl } from '../../src/fleet/control.ts';
import { startHost, type RunningHost } from '../../src/fleet/host.ts';
import { randomHex, requestJson, silentLogger, sleep, type Machine } from '../../src/lib/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { RevocationList } from '../../src/tokens/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { destroyEveryMachine } from '../helpers/platform.ts';
import { webConfig } from './helpers.ts';

const idleStopMs = 3_000;
const logger = silentLogger();
const subnet = 100 + Math.floor(Math.random() * 150);
let dataDir: string;
let control: RunningControl | undefined;
const hosts: RunningHost[] = [];
const revocations = new RevocationList();

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'aloft-autostop-fleet-'));
  const clusterKey = Buffer.from(randomHex(32));
  control = await startControl({ dataDir, bindHost: `127.${subnet}.0.1`, ports: { api: 0, registry: 0 }, defaultRegion: 'ams', logger, state: { clusterKey } });
  const c = control;
  await revocations.follow(c.revocationSource, logger);
  for (const n of [1, 2]) {
    const address = `127.${subnet}.1.${n}`;
    hosts.push(
      await startHost({
        dataDir: join(dataDir, 'hosts', `ams-${n}`),
        hostId: `ams-${n}`,
        hostNum: n,
        region: 'ams',
        bindHost: address,
        internalHost: address,
        ports: { agent: 0, proxy: 0, gossip: 0 },
        registry: { url: c.registryUrl },
        keyring: c.keyring,
        revocations,
        secretKeys: c.secretKeys,
        driver: 'process',
        domain: 'aloft.localhost',
        clusterKey,
        seeds: [c.stateAddress!],
        logger,
        namePrefix: `as${n}`,
        proxyLimits: { idleStopMs, autostopIntervalMs: 600_000 },
      }),
    );
  }
  await eventually('both hosts to be known to the API', async () => (await call<unknown[]>('GET', '/v1/hosts')).length === 2, 20_000);
});

after(async () => {
  for (const h of hosts) await destroyEveryMachine(h.agent);
  for (const h of hosts.splice(0)) await h.stop(true).catch(() => undefined);
  revocations.stop();
  await control?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return requestJson<T>(method, `${control!.apiUrl}${path}`, { token: control!.token, target: 'the API', ...(body === undefined ? {} : { body }) });
}

/** An app with the example image, and one machine of it on each host (placement spreads them). */
async function appWithMachineOnEachHost(service: Record<string, unknown>): Promise<{ app: string; onHost: Map<string, string> }> {
  const app = `as${randomHex(3)}`;
  const registry = new RegistryClient({ url: control!.registryUrl, credentials: { password: control!.token } });
  try {
    await buildExampleImage(registry, `personal/${app}`, 'v1');
  } finally {
    await registry.close();
  }
  await call('POST', '/v1/apps', { app_name: app, org_slug: 'personal' });
  const onHost = new Map<string, string>();
  for (let i = 0; i < 2; i++) {
    const config = webConfig(app);
    const services = config.services as Array<Record<string, unknown>>;
    services[0] = { ...services[0], ...service };
    const m = await call<Machine>('POST', `/v1/apps/${app}/machines`, { region: 'ams', config });
    await call('GET', `/v1/apps/${app}/machines/${m.id}/wait?state=started&timeout=30`);
    onHost.set(m.host_id!, m.id);
  }
  assert.deepEqual([...onHost.keys()].sort(), ['ams-1', 'ams-2'], 'one machine on each host');
  return { app, onHost };
}

/** A GET through a host's proxy to one machine of the app; the status. */
function getVia(host: RunningHost, app: string, machineId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${host.proxyUrl}/`, { headers: { host: `${app}.aloft.localhost`, 'fly-force-instance-id': machineId }, timeout: 5_000, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.end();
  });
}

async function stateOf(app: string, machineId: string): Promise<string> {
  return (await call<Machine>('GET', `/v1/apps/${app}/machines/${machineId}`)).state;
}

/** One autostop pass on every host's proxy in the same turn, as when their timers fire together. */
function passEverywhere(): Map<string, string[]> {
  return new Map(hosts.map((h) => [h.id, h.proxy.autostopNow()]));
}

describe('autostop on a fleet', () => {
  it("does not stop a machine busy through another host's proxy; the region's decider stops idle ones on any host", async () => {
    const { app, onHost } = await appWithMachineOnEachHost({ autostop: 'stop', autostart: false, min_machines_running: 0 });
    const busy = onHost.get('ams-1')!;
    const idle = onHost.get('ams-2')!;
    const [ams1, ams2] = hosts as [RunningHost, RunningHost];
    await eventually("ams-2's proxy to route to the machine on ams-1", async () => (await getVia(ams2, app, busy)) === 200);
    // Traffic to the ams-1 machine through ams-2's proxy only, for longer than the idle time,
    // while both proxies run passes.
    const statuses: number[] = [];
    const stops = new Map<string, string[]>([['ams-1', []], ['ams-2', []]]);
    const until = performance.now() + idleStopMs * 2;
    let nextPassAt = performance.now() + idleStopMs;
    while (performance.now() < until) {
      statuses.push(await getVia(ams2, app, busy));
      if (performance.now() >= nextPassAt) {
        for (const [host, ids] of passEverywhere()) stops.get(host)!.push(...ids);
        nextPassAt += 500;
      }
      await sleep(100);
    }
    assert.ok(!stops.get('ams-1')!.includes(busy), `ams-1's proxy did not stop its machine that ams-2's proxy kept busy (it stopped ${stops.get('ams-1')!.join(', ') || 'nothing'})`);
    assert.deepEqual(stops.get('ams-2'), [], "ams-2's proxy does not decide for the region");
    assert.equal(await stateOf(app, busy), 'started');
    assert.deepEqual([...new Set(statuses)], [200], 'every request through ams-2 was served');
    assert.ok(stops.get('ams-1')!.includes(idle), "ams-1's proxy stopped the idle machine on ams-2");
    await eventually('the idle machine on ams-2 to be stopped', async () => (await stateOf(app, idle)) === 'stopped', 15_000);

    // Once its traffic ends, the decider stops it too.
    await eventually(
      'the machine to be stopped once idle everywhere',
      async () => {
        passEverywhere();
        return (await stateOf(app, busy)) === 'stopped';
      },
      idleStopMs * 5,
      300,
    );
  });

  it('keeps min_machines_running across the region when both proxies run a pass at once', async () => {
    const { app, onHost } = await appWithMachineOnEachHost({ autostop: 'stop', autostart: false, min_machines_running: 1 });
    const ids = [...onHost.values()];
    await eventually('both proxies to have both machines started', async () => {
      for (const h of hosts) for (const id of ids) if ((await getVia(h, app, id)) !== 200) return false;
      return true;
    });
    await sleep(idleStopMs + 500);
    const stopped: string[] = [];
    for (let round = 0; round < 4; round++) {
      for (const list of passEverywhere().values()) stopped.push(...list.filter((id) => ids.includes(id)));
      await sleep(700);
    }
    assert.equal(stopped.length, 1, `exactly one of the two stopped (stopped: ${stopped.join(', ')})`);
    const states = await Promise.all(ids.map((id) => stateOf(app, id)));
    assert.deepEqual(states.filter((s) => s === 'started').length, 1, `one machine still runs in the region (${states.join(', ')})`);
  });
});
