/**
 * Lifecycle rules through the Machines API: restart policies, leases, signals, and a platform
 * restart (`aloft up` stopped and started again) that brings back what should be running.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { buildExampleImage } from '../../src/build/index.ts';
import type { Machine } from '../../src/lib/index.ts';
import { RegistryClient } from '../../src/registry/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const res = await request(`${p.endpoints.api}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${p.endpoints.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as T };
}

const service = [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }];

async function run(app: string, config: Record<string, unknown>): Promise<Machine> {
  const r = await api<Machine>('POST', `/v1/apps/${app}/machines`, { config: { image: 'life:v1', ...config } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

before(async () => {
  p = await startTestPlatform();
  const client = new RegistryClient({ url: p.endpoints.registry, credentials: { password: p.endpoints.token } });
  await buildExampleImage(client, 'personal/life', 'v1');
  await client.close();
  assert.equal((await api('POST', '/v1/apps', { app_name: 'life', org_slug: 'personal' })).status, 201);
});

after(async () => {
  // Cleanup is checked too: an app whose machines cannot be destroyed is a bug.
  assert.equal((await api('DELETE', '/v1/apps/life')).status, 202);
  const agent = p.platform.agent;
  if (agent !== undefined) await eventually('every machine destroyed', () => agent.service.list().length === 0, 30_000);
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('machine lifecycle', () => {
  it('on-failure restarts a crashing machine max_retries times, then leaves it stopped', async () => {
    const m = await run('life', { init: { exec: ['/bin/sh', '-c', 'echo crash; exit 7'] }, restart: { policy: 'on-failure', max_retries: 2 } });
    const final = await eventually('the machine to give up', async () => {
      const r = await api<Machine>('GET', `/v1/apps/life/machines/${m.id}`);
      const exits = r.json.events.filter((e) => e.type === 'exit');
      return r.json.state === 'stopped' && exits.length === 3 ? r.json : undefined;
    }, 20_000);
    const exits = final.events.filter((e) => e.type === 'exit');
    assert.deepEqual(exits.map((e) => e.request?.exit_event?.restarting), [false, true, true], 'newest first: the last exit is not restarted');
    assert.ok(exits.every((e) => e.request?.exit_event?.exit_code === 7));
    assert.ok(exits[0]!.request?.log_tail?.includes('crash'));
  });

  it('always restarts a machine whose process exits cleanly', async () => {
    const m = await run('life', { init: { exec: ['/bin/sh', '-c', 'sleep 0.2; exit 0'] }, restart: { policy: 'always' } });
    await eventually('two restarts', async () => {
      const r = await api<Machine>('GET', `/v1/apps/life/machines/${m.id}`);
      return r.json.events.filter((e) => e.type === 'exit' && e.request?.exit_event?.restarting === true).length >= 2;
    }, 20_000);
    assert.equal((await api('DELETE', `/v1/apps/life/machines/${m.id}?force=true`)).status, 200);
  });

  it('no: an exit leaves the machine stopped, and a signal reaches the process', async () => {
    const m = await run('life', { restart: { policy: 'no' }, services: service });
    assert.equal((await api('GET', `/v1/apps/life/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    assert.equal((await api('POST', `/v1/apps/life/machines/${m.id}/signal`, { signal: 'SIGKILL' })).status, 200);
    const stopped = await eventually('stopped after SIGKILL', async () => {
      const r = await api<Machine>('GET', `/v1/apps/life/machines/${m.id}`);
      return r.json.state === 'stopped' ? r.json : undefined;
    });
    const exit = stopped.events.find((e) => e.type === 'exit');
    assert.equal(exit?.request?.exit_event?.signal, 9);
    assert.equal(exit?.request?.exit_event?.requested_stop, false);
    assert.equal((await api('GET', `/v1/apps/life/machines/${m.id}/wait?state=started&timeout=1`)).status, 408);
    assert.equal((await api('DELETE', `/v1/apps/life/machines/${m.id}`)).status, 200);
  });

  it('leases: a held lease blocks others (409) and lets its holder through', async () => {
    const m = await run('life', { services: service });
    await api('GET', `/v1/apps/life/machines/${m.id}/wait?state=started&timeout=30`);
    const lease = await api<{ data: { nonce: string } }>('POST', `/v1/apps/life/machines/${m.id}/lease`, { ttl: 60, description: 'deploy' });
    assert.equal(lease.status, 201);
    const nonce = lease.json.data.nonce;
    assert.equal((await api('POST', `/v1/apps/life/machines/${m.id}/lease`, { ttl: 60 })).status, 409);
    const blocked = await api('POST', `/v1/apps/life/machines/${m.id}/stop`, {});
    assert.equal(blocked.status, 409);
    assert.equal(blocked.json.code, 'lease_held');
    assert.equal((await api('POST', `/v1/apps/life/machines/${m.id}/stop`, {}, { 'fly-machine-lease-nonce': nonce })).status, 200);
    assert.equal((await api('DELETE', `/v1/apps/life/machines/${m.id}/lease`, undefined, { 'fly-machine-lease-nonce': nonce })).status, 200);
    assert.equal((await api('GET', `/v1/apps/life/machines/${m.id}/lease`)).status, 404);
  });

  it('a new app with a deleted app\'s name sees none of the old machines', async () => {
    assert.equal((await api('POST', '/v1/apps', { app_name: 'reused', org_slug: 'personal' })).status, 201);
    const old = await run('reused', { services: service });
    assert.equal((await api('DELETE', '/v1/apps/reused')).status, 202);
    assert.equal((await api('POST', '/v1/apps', { app_name: 'reused', org_slug: 'personal' })).status, 201);
    const list = await api<Machine[]>('GET', '/v1/apps/reused/machines?include_deleted=true');
    assert.deepEqual(list.json, [], `the old app's machine ${old.id} must not be listed`);
    assert.equal((await api('GET', `/v1/apps/reused/machines/${old.id}`)).status, 404);
    assert.equal((await api('DELETE', '/v1/apps/reused')).status, 202);
  });

  it('a platform restart brings back the machines that should run', async () => {
    const m = await run('life', { services: service, restart: { policy: 'always' } });
    assert.equal((await api('GET', `/v1/apps/life/machines/${m.id}/wait?state=started&timeout=30`)).status, 200);
    await p.stop({ keepMachines: true });
    p = await startTestPlatform({ dataDir: p.dataDir });
    const back = await eventually('the machine to run again', async () => {
      const r = await api<Machine>('GET', `/v1/apps/life/machines/${m.id}`);
      return r.json.state === 'started' ? r.json : undefined;
    }, 30_000);
    assert.equal(back.id, m.id);
    const res = await eventually('served after the restart', async () => {
      const r = await request(`${p.endpoints.proxy}/`, { headers: { host: 'life.aloft.localhost' } });
      const body = await r.body.text();
      return r.statusCode === 200 ? body : undefined;
    });
    assert.match(res, new RegExp(m.id));
  });
});
