/**
 * Tokens through the whole platform: every caveat both ways at the API, attenuation that cannot
 * widen, the tokens API (create no wider, list without secrets, revoke), and invalid tokens
 * (expired, tampered, revoked) refused by the API, the registry and an agent called directly —
 * the last two learning of a revocation without asking the API per request.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import { systemClock, type Machine } from '../../src/lib/index.ts';
import { attenuate, httpRevocationSource, Keyring, mintPlatformToken, mintToken, RevocationList, type Caveat } from '../../src/tokens/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;
let admin: string;
let m1: Machine;
let m2: Machine;
let agentUrl: string;

interface Answer {
  status: number;
  json: Record<string, unknown> & { error?: string; message?: string };
}

async function call(base: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<Answer> {
  const res = await request(`${base}${path}`, {
    method: method as 'GET',
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text === '' ? {} : (JSON.parse(text) as Answer['json']) };
}
const api = (method: string, path: string, token: string | undefined, body?: unknown): Promise<Answer> => call(p.endpoints.api, method, path, token, body);
const agent = (path: string, token: string): Promise<Answer> => call(agentUrl, 'GET', path, token);
const registry = async (repo: string, token: string): Promise<number> => (await request(`${p.endpoints.registry}/v2/${repo}/tags/list`, { headers: { authorization: `Bearer ${token}` } })).statusCode;
const narrow = (caveats: Caveat[]): string => attenuate(admin, caveats);
const messageOf = (a: Answer): string => String(a.json.error ?? a.json.message ?? JSON.stringify(a.json));

function assertRefused(a: Answer, status: 401 | 403, pattern: RegExp): void {
  assert.equal(a.status, status, messageOf(a));
  assert.match(messageOf(a), pattern);
}

before(async () => {
  p = await startTestPlatform();
  admin = p.endpoints.token;
  agentUrl = p.platform.agent!.url;
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    const imported = await runCli(['--data-dir', p.dataDir, 'images', 'import', rootfs, '--tag', 'tokhello:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  for (const app of ['tokalpha', 'tokbeta']) assert.equal((await api('POST', '/v1/apps', admin, { app_name: app })).status, 201);
  const create = async (): Promise<Machine> => {
    const r = await api('POST', '/v1/apps/tokalpha/machines', admin, { config: { image: 'tokhello:v1' }, skip_launch: true });
    assert.equal(r.status, 200, messageOf(r));
    return r.json as unknown as Machine;
  };
  m1 = await create();
  m2 = await create();
});

after(async () => {
  await api('DELETE', '/v1/apps/tokalpha', admin).catch(() => undefined);
  await api('DELETE', '/v1/apps/tokbeta', admin).catch(() => undefined);
  const a = p.platform.agent;
  if (a !== undefined) {
    // Whatever the API could not destroy (a test failed midway) is destroyed on the host, so no mount or namespace outlives the test.
    for (const m of a.service.list()) await a.service.destroy(m.id, true).catch(() => undefined);
    await eventually('machines destroyed', () => a.service.list().length === 0, 30_000).catch(() => undefined);
  }
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('each caveat at the API, allowed and refused', () => {
  it('org', async () => {
    assert.equal((await api('GET', '/v1/apps/tokalpha', admin)).status, 200);
    const other = mintToken({ keyring: p.keyring, org: 'other' });
    assertRefused(await api('GET', '/v1/apps/tokalpha', other), 403, /caveat 1 \(org\): allows organization 'other' only/);
  });

  it('apps', async () => {
    const alpha = narrow([{ type: 'apps', apps: ['tokalpha'] }]);
    assert.equal((await api('GET', '/v1/apps/tokalpha', alpha)).status, 200);
    assertRefused(await api('GET', '/v1/apps/tokbeta', alpha), 403, /\(apps\): allows apps tokalpha, not app 'tokbeta'/);
    const listed = (await api('GET', '/v1/apps', alpha)).json as { apps: { name: string }[] };
    assert.deepEqual(listed.apps.map((a) => a.name), ['tokalpha'], 'a listing leaves out what the token may not read');
    assertRefused(await api('POST', '/v1/apps', alpha, { app_name: 'tokgamma' }), 403, /\(apps\)/);
  });

  it('actions', async () => {
    const read = narrow([{ type: 'actions', actions: ['read'] }]);
    assert.equal((await api('GET', `/v1/apps/tokalpha/machines/${m1.id}`, read)).status, 200);
    assertRefused(await api('POST', `/v1/apps/tokalpha/machines/${m1.id}/stop`, read, {}), 403, /\(actions\): allows actions read, not action 'write'/);
    assertRefused(await api('POST', '/v1/apps/tokalpha/machines', read, { config: { image: 'tokhello:v1' } }), 403, /action 'create'/);
    assertRefused(await api('DELETE', `/v1/apps/tokalpha/machines/${m1.id}`, read), 403, /action 'delete'/);
    assertRefused(await api('DELETE', '/v1/apps/tokalpha', read), 403, /action 'delete'/);
    const write = narrow([{ type: 'actions', actions: ['write'] }]);
    const lease = await api('POST', `/v1/apps/tokalpha/machines/${m2.id}/lease`, write, { ttl: 1 });
    assert.equal(lease.status, 201, `write allows taking a lease: ${messageOf(lease)}`);
    const nonce = (lease.json.data as { nonce: string }).nonce;
    const released = await request(`${p.endpoints.api}/v1/apps/tokalpha/machines/${m2.id}/lease`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${write}`, 'fly-machine-lease-nonce': nonce },
    });
    assert.equal(released.statusCode, 200);
    await released.body.dump();
  });

  it('machines', async () => {
    const one = narrow([{ type: 'machines', machines: [m1.id] }]);
    assert.equal((await api('GET', `/v1/apps/tokalpha/machines/${m1.id}`, one)).status, 200);
    assertRefused(await api('GET', `/v1/apps/tokalpha/machines/${m2.id}`, one), 403, new RegExp(`\\(machines\\): allows machines ${m1.id}, not machine '${m2.id}'`));
    const listed = (await api('GET', '/v1/apps/tokalpha/machines', one)).json as unknown as Machine[];
    assert.deepEqual(listed.map((m) => m.id), [m1.id], 'the listing shows only the allowed machine');
    assertRefused(await api('GET', '/v1/apps/tokalpha/machines', narrow([{ type: 'machines', machines: ['00000000000000'] }])), 403, /machines/);
  });

  it('regions', async () => {
    assert.equal((await api('GET', `/v1/apps/tokalpha/machines/${m1.id}`, narrow([{ type: 'regions', regions: ['dev'] }]))).status, 200);
    const ams = narrow([{ type: 'regions', regions: ['ams'] }]);
    assertRefused(await api('GET', `/v1/apps/tokalpha/machines/${m1.id}`, ams), 403, /\(regions\): allows regions ams, not region 'dev'/);
    assertRefused(await api('POST', '/v1/apps/tokalpha/machines', ams, { config: { image: 'tokhello:v1' } }), 403, /region 'dev'/);
  });

  it('expires', async () => {
    assert.equal((await api('GET', '/v1/apps/tokalpha', narrow([{ type: 'expires', notAfterMs: Date.now() + 60_000 }]))).status, 200);
    assertRefused(await api('GET', '/v1/apps/tokalpha', narrow([{ type: 'expires', notAfterMs: Date.now() - 1 }])), 401, /\(expires\): expired at/);
  });

  it('registry (a registry-scoped token is good for the registry only)', async () => {
    const pull = narrow([{ type: 'registry', repositories: ['personal/tokhello'], actions: ['pull'] }]);
    assert.equal(await registry('personal/tokhello', pull), 200);
    assert.equal(await registry('personal/other', pull), 403);
    assertRefused(await api('GET', '/v1/apps/tokalpha', pull), 403, /\(registry\)/);
  });
});

describe('attenuation cannot widen', () => {
  it('adding an app yields the intersection, not the union', async () => {
    const alpha = narrow([{ type: 'apps', apps: ['tokalpha'] }]);
    const both = attenuate(alpha, [{ type: 'apps', apps: ['tokalpha', 'tokbeta'] }]);
    assert.equal((await api('GET', '/v1/apps/tokalpha', both)).status, 200);
    assertRefused(await api('GET', '/v1/apps/tokbeta', both), 403, /apps tokalpha, not app 'tokbeta'/);
    const disjoint = attenuate(alpha, [{ type: 'apps', apps: ['tokbeta'] }]);
    assert.equal((await api('GET', '/v1/apps/tokalpha', disjoint)).status, 403);
    assert.equal((await api('GET', '/v1/apps/tokbeta', disjoint)).status, 403);
    const moreActions = attenuate(narrow([{ type: 'actions', actions: ['read'] }]), [{ type: 'actions', actions: ['read', 'write'] }]);
    assert.equal((await api('POST', `/v1/apps/tokalpha/machines/${m1.id}/start`, moreActions, {})).status, 403);
    const laterExpiry = attenuate(narrow([{ type: 'expires', notAfterMs: Date.now() - 1 }]), [{ type: 'expires', notAfterMs: Date.now() + 3_600_000 }]);
    assert.equal((await api('GET', '/v1/apps/tokalpha', laterExpiry)).status, 401);
  });

  it('POST /v1/tokens makes a token no wider than the caller\'s', async () => {
    const alpha = narrow([{ type: 'apps', apps: ['tokalpha'] }]);
    const made = await api('POST', '/v1/tokens', alpha, { apps: ['tokbeta'], description: 'asks for more' });
    assert.equal(made.status, 201, messageOf(made));
    const token = String(made.json.token);
    assert.equal((await api('GET', '/v1/apps/tokbeta', token)).status, 403);
    assert.equal((await api('GET', '/v1/apps/tokalpha', token)).status, 403);
  });
});

describe('tokens API', () => {
  it('creates, lists without secrets, and revokes at once', async () => {
    const made = await api('POST', '/v1/tokens', admin, { apps: ['tokalpha'], actions: ['read'], expires_in_s: 3600, description: 'ci reader' });
    assert.equal(made.status, 201, messageOf(made));
    const token = String(made.json.token);
    const id = String(made.json.id);
    assert.equal((await api('GET', '/v1/apps/tokalpha', token)).status, 200);
    const list = await api('GET', '/v1/tokens', admin);
    assert.equal(list.status, 200);
    const row = (list.json.tokens as Record<string, unknown>[]).find((t) => t.id === id)!;
    assert.equal(row.description, 'ci reader');
    assert.deepEqual((row.caveats as string[]).slice(0, 3), ['organization personal', 'apps tokalpha', 'actions read']);
    assert.equal(row.revoked, false);
    assert.ok(typeof row.expires_at === 'string' && typeof row.created_at === 'string');
    assert.ok(!JSON.stringify(list.json).includes(token), 'the listing never carries a token');

    assert.equal((await api('DELETE', `/v1/tokens/${id}`, admin)).status, 200);
    assertRefused(await api('GET', '/v1/apps/tokalpha', token), 401, /revoked/);
    const after = (await api('GET', '/v1/tokens', admin)).json.tokens as Record<string, unknown>[];
    assert.equal(after.find((t) => t.id === id)!.revoked, true);
    assert.equal((await api('GET', '/v1/apps/tokalpha', admin)).status, 200, 'revoking a child leaves its parent alone');
  });

  it('a token may revoke itself and what it made, not its siblings', async () => {
    const a = await api('POST', '/v1/tokens', admin, { actions: ['read'] });
    const b = await api('POST', '/v1/tokens', admin, {});
    assertRefused(await api('DELETE', `/v1/tokens/${String(b.json.id)}`, String(a.json.token)), 403, /action 'delete'/);
    assert.equal((await api('DELETE', `/v1/tokens/${String(a.json.id)}`, String(a.json.token))).status, 200);
    assert.equal((await api('DELETE', '/v1/tokens/tok_nosuchtoken', admin)).status, 404);
    const other = mintToken({ keyring: p.keyring, org: 'other' });
    assert.equal((await api('DELETE', `/v1/tokens/${String(b.json.id)}`, other)).status, 404, 'another organization does not see the token');
  });

  it('a token that names another token\'s id in a caveat of its own does not become that token\'s ancestor', async () => {
    const target = await api('POST', '/v1/tokens', admin, { description: 'a victim' });
    const reader = await api('POST', '/v1/tokens', admin, { apps: ['tokalpha'], actions: ['read'] });
    // Anyone may append caveats offline, including a `token` caveat with any id.
    const forged = attenuate(String(reader.json.token), [{ type: 'token', tokenId: String(target.json.id) }]);
    assertRefused(await api('DELETE', `/v1/tokens/${String(target.json.id)}`, forged), 403, /refused by caveat/);
    assert.equal((await api('GET', '/v1/apps/tokalpha', String(target.json.token))).status, 200, 'the victim still works');
  });
});

describe('invalid tokens', () => {
  const tamper = (token: string): string => {
    // Change one byte inside the org caveat ("personal" → "personaL"): the signature no longer matches.
    const raw = Buffer.from(token.slice('aloft_'.length), 'base64url');
    const at = raw.indexOf('personal');
    raw[at + 7] = 'L'.charCodeAt(0);
    return `aloft_${raw.toString('base64url')}`;
  };

  it('are refused by the API with 401', async () => {
    assertRefused(await api('GET', '/v1/apps', undefined), 401, /missing Authorization/);
    assertRefused(await api('GET', '/v1/apps', 'not-a-token'), 401, /./);
    assertRefused(await api('GET', '/v1/apps', tamper(admin)), 401, /signature/);
    const strangers = new Keyring(systemClock);
    strangers.rotate();
    assertRefused(await api('GET', '/v1/apps', mintToken({ keyring: strangers, org: 'personal' })), 401, /key/);
  });

  it('are refused by the registry and by an agent called directly', async () => {
    const path = `/v1/machines/${m1.id}`;
    assert.equal((await agent(path, admin)).status, 200, 'the agent verifies the caller\'s token itself');
    assert.equal(await registry('personal/tokhello', admin), 200);
    const expired = narrow([{ type: 'expires', notAfterMs: Date.now() - 1 }]);
    for (const bad of [expired, tamper(admin)]) {
      assert.equal((await agent(path, bad)).status, 401);
      assert.equal(await registry('personal/tokhello', bad), 401);
    }
  });

  it('a revocation reaches the registry and the agent without a call per request', async () => {
    const made = await api('POST', '/v1/tokens', admin, { description: 'to revoke' });
    const token = String(made.json.token);
    assert.equal((await agent(`/v1/machines/${m1.id}`, token)).status, 200);
    assert.equal(await registry('personal/tokhello', token), 200);
    assert.equal((await api('DELETE', `/v1/tokens/${String(made.json.id)}`, admin)).status, 200);
    assert.equal((await api('GET', '/v1/apps', token)).status, 401, 'the API refuses at once');
    await eventually('the registry refuses the revoked token', async () => (await registry('personal/tokhello', token)) === 401, 5_000);
    await eventually('the agent refuses the revoked token', async () => (await agent(`/v1/machines/${m1.id}`, token)).status === 401, 5_000);
  });
});

describe('the revocation source', () => {
  it('GET /v1/revocations serves platform tokens only, and a RevocationList refreshes from it', async () => {
    const made = await api('POST', '/v1/tokens', admin, { description: 'listed as revoked' });
    const id = String(made.json.id);
    assert.equal((await api('DELETE', `/v1/tokens/${id}`, admin)).status, 200);
    assertRefused(await api('GET', '/v1/revocations', admin), 403, /organization 'personal' only/);
    const list = new RevocationList();
    const source = httpRevocationSource(p.endpoints.api, () => mintPlatformToken(p.keyring, ['read'], Date.now()));
    await list.refresh(source);
    assert.equal(list.isRevoked(id), true);
    assert.equal(list.isRevoked(p.endpoints.token), false);
  });
});

describe('agents check tokens against what they target', () => {
  it('refuses another app\'s token for a machine, and user tokens for platform calls', async () => {
    const beta = narrow([{ type: 'apps', apps: ['tokbeta'] }]);
    const refused = await agent(`/v1/machines/${m1.id}`, beta);
    assert.equal(refused.status, 403);
    assert.match(messageOf(refused), /apps tokbeta, not app 'tokalpha'/);
    assert.equal((await agent(`/v1/machines/${m1.id}`, narrow([{ type: 'apps', apps: ['tokalpha'] }]))).status, 200);
    assert.equal((await agent('/v1/host', admin)).status, 403, 'host info needs a platform token');
    assert.equal((await agent('/v1/host', mintPlatformToken(p.keyring, ['read'], Date.now()))).status, 200);
  });

  it("refuses another organization's image, so the agent's pull rights never leak across organizations", async () => {
    const created = await api('POST', '/v1/apps/tokalpha/machines', admin, { config: { image: 'other/secret:v1' }, skip_launch: true });
    assertRefused(created, 403, /image .*other\/secret:v1 is in organization 'other'/);
    const updated = await api('POST', `/v1/apps/tokalpha/machines/${m1.id}`, admin, { config: { image: 'other/secret:v1' } });
    assertRefused(updated, 403, /organization 'other'/);
  });

  it("refuses a create that does not come through the API, so no organization can claim another's app name", async () => {
    const body = { id: '0123456789abcd', app: 'tokbeta', app_id: 'x', org: 'other', org_num: 2, config: { image: '127.0.0.1:1/other/tokhello:v1' }, skip_launch: true };
    const post = async (authorization: string): Promise<Answer> => {
      const res = await request(`${agentUrl}/v1/machines`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.statusCode, json: (await res.body.json()) as Answer['json'] };
    };
    const otherAdmin = mintToken({ keyring: p.keyring, org: 'other' });
    assertRefused(await post(`Bearer ${otherAdmin}`), 403, /through the API/);
    const platform = mintPlatformToken(p.keyring, ['read', 'write'], Date.now());
    assertRefused(await post(`Bearer ${platform}`), 403, /caller's own token/);
    assertRefused(await post(`Bearer ${admin},${platform}`), 403, /organization 'personal' only/);
  });
});
