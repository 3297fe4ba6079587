/**
 * A drained machine keeps its app's raw public ports: the API re-creates it on another host under
 * a new id, and the port claims, which go with the machine's pin, must move with it. Two real
 * agents (process driver, loopback) in one region behind an in-process API; machines are never
 * launched.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startHostAgent, type HostAgent } from '../../src/agent/index.ts';
import { CentralStore, createApiServer } from '../../src/api/index.ts';
import type { DrainResult } from '../../src/api/routes-hosts.ts';
import { silentLogger, systemClock, type ErrorBody, type Machine } from '../../src/lib/index.ts';
import { Keyring, mintToken, RevocationList } from '../../src/tokens/index.ts';

const keyring = new Keyring(systemClock);
keyring.generate();
const token = mintToken({ keyring, org: 'personal' });

let dir: string;
let central: CentralStore;
let api: FastifyInstance;
const agents: HostAgent[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-drain-ports-'));
  central = new CentralStore(join(dir, 'central.sqlite'));
  central.ensureOrg('personal', 'Personal');
  for (const name of ['holder', 'other']) central.createApp({ id: name, name, org_slug: 'personal', network: 'default', created_at: 0 });
  for (const n of [1, 2]) {
    const agent = await startHostAgent(
      { dataDir: join(dir, `ams-${n}`), hostId: `ams-${n}`, hostNum: n, region: 'ams', registry: { url: 'http://127.0.0.1:9' }, driver: 'process', keyring, revocations: new RevocationList(), logger: silentLogger(), capacity: { cpus: 4, memoryMb: 2048 } },
      0,
      '127.0.0.1',
    );
    agents.push(agent);
    central.upsertHost({ id: `ams-${n}`, region: 'ams', agent_url: agent.url });
  }
  api = createApiServer({ store: central, keyring, defaultRegion: 'ams', registryHost: 'registry.invalid', logger: silentLogger() });
  await api.ready();
});

after(async () => {
  await api?.close();
  for (const agent of agents) await agent.stop(true);
  central?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function call<T>(method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>): Promise<{ status: number; json: T }> {
  const res = await api.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, json: res.json() as T };
}

/** A never-launched machine of `app` declaring raw TCP port 5432. */
const createRaw = (app: string) =>
  call<Machine & ErrorBody>('POST', `/v1/apps/${app}/machines`, {
    config: { image: `${app}:v1`, services: [{ protocol: 'tcp', internal_port: 5432, ports: [{ port: 5432, handlers: [] }] }] },
    skip_launch: true,
  });

test("a drained machine's raw port stays its app's: another app is still refused it", async () => {
  const held = await createRaw('holder');
  assert.equal(held.status, 200, JSON.stringify(held.json));
  assert.equal((await createRaw('other')).status, 409, 'taken before the drain');

  const drained = await call<DrainResult>('POST', `/v1/hosts/${held.json.host_id}/drain`, {});
  assert.equal(drained.status, 200, JSON.stringify(drained.json));
  assert.deepEqual(drained.json.failed, []);
  assert.deepEqual(drained.json.moved.map((m) => m.machine), [held.json.id]);

  const after = await createRaw('other');
  assert.equal(after.status, 409, `the moved machine (${drained.json.moved[0]!.to_machine}) still holds port 5432: ${JSON.stringify(after.json)}`);
  assert.equal(after.json.code, 'port_taken');
});
