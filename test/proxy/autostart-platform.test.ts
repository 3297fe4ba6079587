/** Autostart of a real machine: stopped through the API, woken by a request through `aloft up`'s proxy via the agent. */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { buildExampleImage, examplePort } from '../../src/build/index.ts';
import type { Machine } from '../../src/lib/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { callApi, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { get } from './helpers.ts';

let p: TestPlatform;
const app = 'wakeup';

const api = <T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => callApi<T>(p.endpoints, method, path, body);

before(async () => {
  p = await startTestPlatform();
  const client = new RegistryClient({ url: p.endpoints.registry, credentials: { password: p.endpoints.token } });
  await buildExampleImage(client, `personal/${app}`, 'v1');
  await client.close();
  assert.equal((await api('POST', '/v1/apps', { app_name: app, org_slug: 'personal' })).status, 201);
});

after(async () => {
  await api('DELETE', `/v1/apps/${app}`);
  const agent = p.platform.agent;
  if (agent !== undefined) await eventually('every machine destroyed', () => agent.service.list().length === 0, 30_000);
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('autostart on a real platform', () => {
  it('a request to a stopped machine with autostart starts it and is answered', async () => {
    const services = [{ protocol: 'tcp', internal_port: examplePort, ports: [{ port: 80, handlers: ['http'] }], autostart: true, autostop: 'stop' }];
    const created = await api<Machine>('POST', `/v1/apps/${app}/machines`, { config: { image: `${app}:v1`, services } });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const id = created.json.id;
    assert.equal((await api('GET', `/v1/apps/${app}/machines/${id}/wait?state=started&timeout=60`)).status, 200);
    const proxyPort = Number(new URL(p.endpoints.proxy).port);
    for (let round = 0; round < 2; round++) {
      assert.equal((await api('POST', `/v1/apps/${app}/machines/${id}/stop`, {})).status, 200);
      const stopped = await api<Machine>('GET', `/v1/apps/${app}/machines/${id}`);
      assert.notEqual(stopped.json.state, 'started');
      await waitState(id, 'stopped');
      const r = await get(proxyPort, `${app}.${p.endpoints.domain}`, '/');
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['aloft-machine'], id);
      await eventually('the API to report it started', async () => (await api<Machine>('GET', `/v1/apps/${app}/machines/${id}`)).json.state === 'started', 10_000);
    }
  });
});

async function waitState(id: string, state: string): Promise<void> {
  const r = await api<Machine>('GET', `/v1/apps/${app}/machines/${id}/wait?state=${state}&timeout=30&instance_id=${(await api<Machine>('GET', `/v1/apps/${app}/machines/${id}`)).json.instance_id}`);
  assert.equal(r.status, 200, `machine ${id} did not reach ${state}`);
}
