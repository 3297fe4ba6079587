/**
 * Raw public ports belong to one app platform-wide: the Machines API refuses a machine of another
 * app that declares one (without naming the app that holds it), on create and on update, and
 * frees the port when the holder's machine is destroyed.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { buildExampleImage, examplePort } from '../../src/build/index.ts';
import type { ErrorBody, Machine } from '../../src/lib/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { callApi, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;
const apps = ['pgowner', 'pgsquat'];

const api = <T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => callApi<T>(p.endpoints, method, path, body);

/** A machine config (never launched) of `app` declaring these public ports on one TCP service. */
function config(app: string, ports: { port: number; handlers?: string[] }[], protocol: 'tcp' | 'udp' = 'tcp'): unknown {
  return { image: `${app}:v1`, services: [{ protocol, internal_port: examplePort, ports: ports.map((x) => ({ handlers: [], ...x })) }] };
}

async function create(app: string, cfg: unknown): Promise<{ status: number; json: Machine & ErrorBody }> {
  return api('POST', `/v1/apps/${app}/machines`, { config: cfg, skip_launch: true });
}

before(async () => {
  p = await startTestPlatform();
  const client = new RegistryClient({ url: p.endpoints.registry, credentials: { password: p.endpoints.token } });
  for (const app of apps) {
    await buildExampleImage(client, `personal/${app}`, 'v1');
    assert.equal((await api('POST', '/v1/apps', { app_name: app, org_slug: 'personal' })).status, 201);
  }
  await client.close();
});

after(async () => {
  for (const app of apps) await api('DELETE', `/v1/apps/${app}`).catch(() => undefined);
  const agent = p.platform.agent;
  if (agent !== undefined) await eventually('every machine destroyed', () => agent.service.list().every((m) => m.state === 'destroyed'), 30_000).catch(() => undefined);
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('raw public ports are one app’s', () => {
  let squatter: string;

  it('gives a raw port to the first app that declares it, and refuses it to another with 409 port_taken', async () => {
    const first = await create('pgowner', config('pgowner', [{ port: 5432 }]));
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal((await create('pgowner', config('pgowner', [{ port: 5432 }]))).status, 200, 'the same app may run more machines on it');

    for (const handlers of [[], ['http'], ['tls', 'http']]) {
      const refused = await create('pgsquat', config('pgsquat', [{ port: 5432, handlers }]));
      assert.equal(refused.status, 409, JSON.stringify(refused.json));
      assert.equal(refused.json.code, 'port_taken');
      assert.equal(refused.json.fault, 'config');
      assert.match(refused.json.error, /public port 5432\/tcp is taken by another app/);
      assert.doesNotMatch(JSON.stringify(refused.json), /pgowner/, 'the holder is not named');
    }
  });

  it('refuses an update that declares a taken port and keeps the machine’s own ports', async () => {
    const other = await create('pgsquat', config('pgsquat', [{ port: 6543 }]));
    assert.equal(other.status, 200, JSON.stringify(other.json));
    squatter = other.json.id;
    const updated = await api<ErrorBody>('POST', `/v1/apps/pgsquat/machines/${squatter}`, { config: config('pgsquat', [{ port: 5432 }]), skip_launch: true });
    assert.equal(updated.status, 409, JSON.stringify(updated.json));
    assert.equal(updated.json.code, 'port_taken');
    const taken = await create('pgowner', config('pgowner', [{ port: 6543 }]));
    assert.equal(taken.status, 409, 'the refused update left 6543 with pgsquat');
  });

  it('treats UDP ports as raw, apart from TCP ports of the same number', async () => {
    assert.equal((await create('pgowner', config('pgowner', [{ port: 5353 }], 'udp'))).status, 200);
    const refused = await create('pgsquat', config('pgsquat', [{ port: 5353 }], 'udp'));
    assert.equal(refused.status, 409, JSON.stringify(refused.json));
    assert.match(refused.json.error, /public port 5353\/udp is taken by another app/);
    assert.equal((await create('pgsquat', config('pgsquat', [{ port: 5353 }]))).status, 200, 'TCP 5353 is another port');
    const handlers = await create('pgsquat', config('pgsquat', [{ port: 5400, handlers: ['http'] }], 'udp'));
    assert.equal(handlers.status, 422);
    assert.match(handlers.json.error, /UDP ports take no handlers/);
  });

  it('refuses a raw service on the shared HTTP and HTTPS ports', async () => {
    const refused = await create('pgsquat', config('pgsquat', [{ port: 443 }]));
    assert.equal(refused.status, 422);
    assert.match(refused.json.error, /port 443 is the platform's shared HTTPS port/);
  });

  it('frees the port once the holder’s machines are destroyed', async () => {
    for (const m of (await api<Machine[]>('GET', '/v1/apps/pgowner/machines')).json) {
      assert.equal((await api('DELETE', `/v1/apps/pgowner/machines/${m.id}?force=true`)).status, 200);
    }
    const moved = await api<Machine & ErrorBody>('POST', `/v1/apps/pgsquat/machines/${squatter}`, { config: config('pgsquat', [{ port: 5432 }]), skip_launch: true });
    assert.equal(moved.status, 200, JSON.stringify(moved.json));
  });
});
