/**
 * Health checks on real machines (the busybox httpd example image): a check goes passing →
 * critical → passing as the machine's web root is broken and repaired, the proxy stops sending
 * requests to the failing machine and resumes once it passes, and stop/start clears and reruns
 * the checks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import type { CheckStatus, Machine } from '../../src/lib/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { callApi, startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const app = 'chk-web';
let p: TestPlatform;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const { status, json } = await callApi<T>(p.endpoints, method, path, body);
  assert.ok(status < 300, `${method} ${path}: ${status} ${JSON.stringify(json)}`);
  return json;
}

const machine = (id: string): Promise<Machine> => api<Machine>('GET', `/v1/apps/${app}/machines/${id}`);
const check = (m: Machine, name: string): CheckStatus | undefined => m.checks.find((c) => c.name === name);

async function untilCheck(id: string, name: string, status: CheckStatus['status']): Promise<CheckStatus> {
  return eventually(`check ${name} of ${id} to be ${status}`, async () => {
    const c = check(await machine(id), name);
    return c?.status === status ? c : undefined;
  }, 30_000, 200);
}

/** Which machines answer `n` requests through the proxy, whatever their status. */
async function servedBy(n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await request(`${p.endpoints.proxy}/`, { headers: { host: `${app}.${p.endpoints.domain}` } });
    await res.body.text();
    const by = res.headers['aloft-machine'];
    if (typeof by === 'string') seen.add(by);
  }
  return seen;
}

const exec = (id: string, cmd: string): Promise<{ exit_code: number }> => api('POST', `/v1/apps/${app}/machines/${id}/exec`, { cmd });

before(async () => {
  p = await startTestPlatform();
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-chk-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    const imported = await runCli(['--data-dir', p.dataDir, 'images', 'import', rootfs, '--tag', 'chk:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  await api('POST', '/v1/apps', { app_name: app, org_slug: 'personal' });
});

after(async () => {
  await api('DELETE', `/v1/apps/${app}`).catch(() => undefined);
  const agent = p.platform.agent;
  if (agent !== undefined) await eventually('machines destroyed', () => agent.service.list().length === 0, 30_000).catch(() => undefined);
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('health checks on real machines', () => {
  const ids: string[] = [];
  const serviceCheck = 'servicecheck-00-http-8080';

  it('start as warning, then pass; the Machine view and `aloft machine status` show them', async () => {
    for (let i = 0; i < 2; i++) {
      const m = await api<Machine>('POST', `/v1/apps/${app}/machines`, {
        config: {
          image: 'chk:v1',
          services: [
            { internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks: [{ type: 'http', path: '/index.html', interval: '1s', timeout: '10s', grace_period: '0s' }] },
          ],
          checks: { listening: { type: 'tcp', port: 8080, interval: '1s', timeout: '10s', grace_period: '0s' } },
        },
      });
      ids.push(m.id);
    }
    for (const id of ids) {
      await api('GET', `/v1/apps/${app}/machines/${id}/wait?state=started&timeout=60`);
      const passing = await untilCheck(id, serviceCheck, 'passing');
      assert.equal(passing.output, 'HTTP GET /index.html: 200 OK');
      await untilCheck(id, 'listening', 'passing');
    }
    const status = await runCli(['--data-dir', p.dataDir, 'machine', 'status', ids[0]!, '-a', app]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`${serviceCheck}\\s.*passing\\s.*HTTP GET /index.html: 200 OK`));
    await eventually('both machines served', async () => (await servedBy(10)).size === 2, 20_000);
  });

  it('a failing check takes the machine out of routing; passing again brings it back', async () => {
    const [sick, well] = ids as [string, string];
    const before = check(await machine(sick), serviceCheck)!;
    assert.equal((await exec(sick, 'mv /www/index.html /www/gone.html')).exit_code, 0);
    const critical = await untilCheck(sick, serviceCheck, 'critical');
    assert.match(critical.output, /^HTTP GET \/index.html: 404/);
    assert.ok(critical.updated_at > before.updated_at);
    // The tcp check still passes: only the failing check changed.
    assert.equal(check(await machine(sick), 'listening')?.status, 'passing');
    // The proxy learns the status through the state layer, a moment after the agent records it.
    await eventually('the proxy to route around the failing machine', async () => {
      const seen = await servedBy(10);
      return seen.size === 1 && seen.has(well);
    }, 10_000);
    assert.deepEqual([...(await servedBy(20))], [well]);

    assert.equal((await exec(sick, 'mv /www/gone.html /www/index.html')).exit_code, 0);
    await untilCheck(sick, serviceCheck, 'passing');
    await eventually('the repaired machine served again', async () => (await servedBy(10)).has(sick), 20_000);
  });

  it('stopping clears the checks; starting runs them again', async () => {
    const id = ids[0]!;
    await api('POST', `/v1/apps/${app}/machines/${id}/stop`, {});
    await api('GET', `/v1/apps/${app}/machines/${id}/wait?state=stopped&timeout=60&instance_id=${(await machine(id)).instance_id}`);
    await eventually('checks cleared', async () => (await machine(id)).checks.length === 0, 10_000);
    await api('POST', `/v1/apps/${app}/machines/${id}/start`, {});
    await untilCheck(id, serviceCheck, 'passing');
  });
});
