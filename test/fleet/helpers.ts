/**
 * A small fleet for tests: by default on loopback with the process driver (namespaces are not the
 * point of most tests), on a random subnet so parallel tests do not collide, the example web server pushed as `<app>:v1`, and the
 * calls tests make against it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExampleImage } from '../../src/build/index.ts';
import { fleetDown, fleetUp, type FleetEndpoints } from '../../src/fleet/index.ts';
import { AloftError, randomHex, requestJson, type Machine } from '../../src/lib/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { eventually } from '../helpers/eventually.ts';

export interface TestFleet {
  fleet: FleetEndpoints;
  dataDir: string;
  /** An app created for the test, with the example image pushed as `<app>:v1`. */
  app: string;
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
  proxyOf(hostId: string): string;
  /** Creates a machine of the app running the example web server and waits until it started. */
  runMachine(region: string, extra?: { memoryMb?: number }): Promise<Machine>;
  /** Fleet down and the data directory removed. */
  stop(): Promise<void>;
}

export interface Served {
  status: number;
  machine: string | undefined;
  region: string | undefined;
}

const subnetAttemptsMax = 5;

let nextPort = 20_000 + Math.floor(Math.random() * 20_000);

/**
 * The example web server as a machine config; each on its own port, since process machines share
 * the computer's network, and restarted when it exits (a drained machine's copy can only bind
 * once the original is gone).
 */
export function webConfig(app: string, memoryMb = 256): Record<string, unknown> {
  const port = nextPort++;
  return {
    image: `${app}:v1`,
    env: { PORT: String(port) },
    // Relative paths: the process driver runs the program from the root filesystem's directory.
    init: { entrypoint: ['sh', '-c', 'mkdir -p www && echo ok > www/index.html && exec busybox httpd -f -p "$PORT" -h www'], cmd: [] },
    guest: { cpus: 1, memory_mb: memoryMb, cpu_kind: 'shared' },
    restart: { policy: 'always' },
    services: [{ protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }, { port: 443, handlers: ['tls', 'http'] }] }],
  };
}

/** A GET through a proxy for `app` (fetch cannot set Host, so node:http). */
export function getThrough(proxy: string, app: string, timeoutMs = 5_000): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${proxy}/`, { headers: { host: `${app}.aloft.localhost` }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, machine: res.headers['aloft-machine'] as string | undefined, region: res.headers['aloft-region'] as string | undefined }));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.end();
  });
}

export interface TestFleetOptions {
  hostCapacity?: { cpus: number; memoryMb: number };
  /** Default loopback with the process driver: fast, and what most tests need. */
  network?: 'loopback' | 'netns';
}

export async function startTestFleet(regions: string[], hostsPerRegion: number, options: TestFleetOptions = {}): Promise<TestFleet> {
  const hostCapacity = options.hostCapacity ?? { cpus: 8, memoryMb: 1024 };
  const network = options.network ?? 'loopback';
  const dataDir = await mkdtemp(join(tmpdir(), 'aloft-fleet-'));
  const app = `fl${randomHex(3)}`;
  let fleet: FleetEndpoints | undefined;
  // A random subnet; another fleet on this computer (a test, a benchmark) may have drawn it first.
  for (let attempt = 1; fleet === undefined; attempt += 1) {
    try {
      fleet = await fleetUp({ dataDir, regions, hostsPerRegion, driver: network === 'netns' ? 'oci' : 'process', network, domain: 'aloft.localhost', subnet: 100 + Math.floor(Math.random() * 150), hostCapacity });
    } catch (err) {
      await fleetDown(dataDir);
      if (err instanceof AloftError && err.code === 'topology_in_use' && attempt < subnetAttemptsMax) continue;
      await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
  }
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    requestJson<T>(method, `${fleet.api}${path}`, { token: fleet.token, target: 'the API', ...(body === undefined ? {} : { body }) });
  const t: TestFleet = {
    fleet,
    dataDir,
    app,
    call,
    proxyOf: (hostId) => fleet.hosts.find((h) => h.id === hostId)!.proxy,
    async runMachine(region, extra = {}) {
      const machine = await call<Machine>('POST', `/v1/apps/${app}/machines`, { region, config: webConfig(app, extra.memoryMb) });
      await call('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=started&timeout=30`);
      return machine;
    },
    async stop() {
      await fleetDown(dataDir);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    const registry = new RegistryClient({ url: fleet.registry, credentials: { password: fleet.token } });
    try {
      await buildExampleImage(registry, `personal/${app}`, 'v1');
    } finally {
      await registry.close();
    }
    await call('POST', '/v1/apps', { app_name: app, org_slug: 'personal' });
    await eventually('every host to be known to the API', async () => (await call<unknown[]>('GET', '/v1/hosts')).length === fleet.hosts.length, 20_000);
  } catch (err) {
    await t.stop();
    throw err;
  }
  return t;
}
