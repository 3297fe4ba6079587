/**
 * The spine end to end, as a user drives it: import an image, create an app, run machines,
 * reach them through the proxy, stop/start/update/restart/destroy them, read logs — and every
 * bad input refused with the right status and a message that names the problem.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import type { Machine } from '../../src/lib/index.ts';
import { cliJson, runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;
let cli: (args: string[]) => ReturnType<typeof runCli>;
let json: <T>(args: string[]) => Promise<T>;

async function viaProxy(app: string, path = '/'): Promise<{ status: number; body: string; machine: string | undefined }> {
  const res = await request(`${p.endpoints.proxy}${path}`, { headers: { host: `${app}.aloft.localhost` } });
  return { status: res.statusCode, body: await res.body.text(), machine: res.headers['aloft-machine'] as string | undefined };
}

async function api(method: string, path: string, body?: string, token = p.endpoints.token): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${p.endpoints.api}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

before(async () => {
  p = await startTestPlatform();
  cli = (args) => runCli(['--data-dir', p.dataDir, ...args]);
  json = <T>(args: string[]) => cliJson<T>(['--data-dir', p.dataDir, ...args]);
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    const imported = await cli(['images', 'import', rootfs, '--tag', 'hello:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  assert.equal((await cli(['apps', 'create', 'web'])).code, 0);
});

after(async () => {
  await cli(['apps', 'destroy', 'web', '--yes']).catch(() => undefined);
  await cli(['apps', 'destroy', 'crashy', '--yes']).catch(() => undefined);
  // Destroys run in the background on the agent; let them finish before the platform stops.
  const agent = p.platform.agent;
  if (agent !== undefined) await eventually('machines destroyed', () => agent.service.list().length === 0, 30_000).catch(() => undefined);
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('one host end to end', () => {
  let machine: Machine;

  it('runs a machine from an imported image and serves it through the proxy', async () => {
    machine = await json<Machine>(['machine', 'run', 'hello:v1', '-a', 'web', '-p', '80:8080/tcp:http', '-e', 'GREETING=hi']);
    assert.equal(machine.state, 'started');
    assert.match(machine.id, /^[0-9a-f]{14}$/);
    assert.equal(machine.config.env.GREETING, 'hi');
    const res = await eventually('the proxy to serve the machine', async () => {
      const r = await viaProxy('web');
      return r.status === 200 ? r : undefined;
    });
    assert.match(res.body, new RegExp(`machine <code>${machine.id}</code>`));
    assert.equal(res.machine, machine.id);
  });

  it('lists the machine and shows its events', async () => {
    const list = await json<Machine[]>(['machine', 'list', '-a', 'web']);
    assert.deepEqual(list.map((m) => m.id), [machine.id]);
    const status = await json<Machine>(['machine', 'status', machine.id, '-a', 'web']);
    assert.ok(status.events.some((e) => e.type === 'launch' && e.status === 'created' && e.source === 'flyd'));
    assert.ok(status.events.some((e) => e.type === 'start'));
  });

  it('stops (proxy answers 503 with a reason) and starts again', async () => {
    assert.equal((await cli(['machine', 'stop', machine.id, '-a', 'web'])).code, 0);
    const stopped = await json<Machine>(['machine', 'status', machine.id, '-a', 'web']);
    assert.equal(stopped.state, 'stopped');
    const down = await viaProxy('web');
    assert.equal(down.status, 503);
    assert.match(down.body, /no started machine/);
    const again = await cli(['machine', 'start', machine.id, '-a', 'web']);
    assert.equal(again.code, 0, again.stderr);
    await eventually('served again', async () => (await viaProxy('web')).status === 200);
  });

  it('refuses to start a started machine with 409', async () => {
    const r = await api('POST', `/v1/apps/web/machines/${machine.id}/start`, '{}');
    assert.equal(r.status, 409);
    assert.equal(r.json.code, 'already_started');
  });

  it('updates the config in place with a new instance id', async () => {
    const updated = await json<Machine>(['machine', 'update', machine.id, '-a', 'web', '-e', 'GREETING=hello']);
    assert.notEqual(updated.instance_id, machine.instance_id);
    assert.equal(updated.config.env.GREETING, 'hello');
    assert.equal(updated.state, 'started');
    const exec = await api('POST', `/v1/apps/web/machines/${machine.id}/exec`, JSON.stringify({ cmd: 'echo $GREETING' }));
    assert.equal(exec.status, 200);
    assert.equal(String(exec.json.stdout).trim(), 'hello');
    machine = updated;
  });

  it('restarts and keeps serving', async () => {
    const r = await cli(['machine', 'restart', machine.id, '-a', 'web']);
    assert.equal(r.code, 0, r.stderr);
    await eventually('served after restart', async () => (await viaProxy('web')).status === 200);
  });

  it('shows machine logs', async () => {
    const wait = await api('GET', `/v1/apps/web/machines/${machine.id}/wait?state=started&timeout=5`);
    assert.equal(wait.status, 200);
    await viaProxy('web', '/cgi-bin/machine');
    const logs = await cli(['logs', '-a', 'web']);
    assert.equal(logs.code, 0, logs.stderr);
  });

  it('reports a machine that exits on start with its exit code and last log lines', async () => {
    assert.equal((await cli(['apps', 'create', 'crashy'])).code, 0);
    const r = await cli(['machine', 'run', 'hello:v1', '-a', 'crashy', '--restart', 'no', '--', '/bin/sh', '-c', 'echo boom-before-exit; exit 3']);
    assert.equal(r.code, 3, `exit code 3 means "your app failed"; stderr: ${r.stderr}`);
    assert.match(r.stderr, /exited with code 3/);
    assert.match(r.stderr, /boom-before-exit/);
  });

  it('refuses bad input with the right status and the field named', async () => {
    const base = `/v1/apps/web/machines`;
    const cases: { body: string; status: number; match: RegExp }[] = [
      { body: '{"config": ', status: 400, match: /malformed JSON/ },
      { body: JSON.stringify({ config: { image: 'hello:v1', guest: { memory_mb: 0 } } }), status: 422, match: /config\.guest\.memory_mb/ },
      { body: JSON.stringify({ config: { image: 'hello:v1', services: [{ internal_port: 99999 }] } }), status: 422, match: /config\.services\[0\]\.internal_port/ },
      { body: JSON.stringify({ config: { image: 'hello:v1', imgae: 'x' } }), status: 422, match: /unknown field 'config\.imgae'/ },
      { body: JSON.stringify({ config: { image: 'hello:v1', guest: { cpus: 'two' } } }), status: 422, match: /config\.guest\.cpus/ },
      { body: JSON.stringify({ config: {} }), status: 422, match: /config\.image/ },
      { body: JSON.stringify([1]), status: 400, match: /JSON object/ },
    ];
    for (const c of cases) {
      const r = await api('POST', base, c.body);
      assert.equal(r.status, c.status, `${c.body} → ${JSON.stringify(r.json)}`);
      assert.match(String(r.json.error), c.match);
      assert.equal(r.json.fault, 'user');
    }
    assert.equal((await api('GET', '/v1/apps/nope/machines')).status, 404);
    assert.equal((await api('GET', `/v1/apps/web/machines/00000000000000`)).status, 404);
    assert.equal((await api('GET', '/v1/apps', undefined, 'wrong-token')).status, 401);
    const noToken = await request(`${p.endpoints.api}/v1/apps`);
    assert.equal(noToken.statusCode, 401);
    await noToken.body.dump();
    const cliBad = await cli(['machine', 'run', 'hello:v1', '-a', 'web', '--memory', '100']);
    assert.equal(cliBad.code, 2);
    assert.match(cliBad.stderr, /memory_mb/);
    // Nothing was half-created by any of these.
    assert.equal((await json<Machine[]>(['machine', 'list', '-a', 'web'])).length, 1);
  });

  it('fails fast with the reason per host when no host has room (exit code 4)', async () => {
    const r = await api('POST', '/v1/apps/web/machines', JSON.stringify({ config: { image: 'hello:v1', guest: { memory_mb: 65536, cpus: 1 } } }));
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'no_capacity');
    assert.equal(r.json.fault, 'capacity');
    assert.match(String((r.json.details as { hosts: Record<string, string> }).hosts['host-1']), /^memory/);
    const viaCli = await cli(['machine', 'run', 'hello:v1', '-a', 'web', '--memory', '65536']);
    assert.equal(viaCli.code, 4);
    assert.match(viaCli.stderr, /no host in region 'dev' can take/);
  });

  it('serves the OpenAPI document', async () => {
    const r = await api('GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.ok((r.json.paths as Record<string, unknown>)['/v1/apps/{app_name}/machines']);
  });

  it('destroys: a running machine needs force, then it is gone', async () => {
    const refused = await cli(['machine', 'destroy', machine.id, '-a', 'web', '--yes']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /force/);
    assert.equal((await cli(['machine', 'destroy', machine.id, '-a', 'web', '--force'])).code, 0);
    await eventually('the machine to be gone from the list', async () => (await json<Machine[]>(['machine', 'list', '-a', 'web'])).length === 0);
    await eventually('the proxy to stop routing', async () => (await viaProxy('web')).status === 503);
  });
});
