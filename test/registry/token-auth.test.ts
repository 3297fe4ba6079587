/**
 * The registry with Aloft's tokens: organizations own `<org>/…` repositories, the registry
 * caveat is honoured both ways, `/token` hands out narrowed short-lived tokens, and expired,
 * tampered and revoked tokens are refused — by skopeo as well as over raw HTTP.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildExampleImage } from '../../src/build/index.ts';
import { OciLayoutWriter, tokenAuth } from '../../src/registry/index.ts';
import { systemClock } from '../../src/lib/index.ts';
import { attenuate, inspectToken, Keyring, mintToken, RevocationList, type Caveat } from '../../src/tokens/index.ts';
import { keyring, skopeo, startRegistry, token, tokenFor, type Harness } from './helpers.ts';

let h: Harness;
let layout: string;

before(async () => {
  h = await startRegistry();
  layout = join(h.dir, 'layout');
  await buildExampleImage(new OciLayoutWriter(layout), 'acme/example', 'v1');
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${token}`, `oci:${layout}:v1`, `docker://${h.host}/acme/app:v1`]);
});
after(async () => h.stop());

const bearer = (t: string): RequestInit => ({ headers: { authorization: `Bearer ${t}` } });
const tags = (repo: string, t: string): Promise<Response> => h.call(`/v2/${repo}/tags/list`, bearer(t));
const startUpload = (repo: string, t: string): Promise<Response> => h.call(`/v2/${repo}/blobs/uploads/`, { method: 'POST', ...bearer(t) });
const narrowed = (caveats: Caveat[]): string => attenuate(token, caveats);

async function refusal(r: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await r.json()) as { errors: { code: string; message: string }[] };
  return { status: r.status, code: body.errors[0]!.code, message: body.errors[0]!.message };
}

test("skopeo with one organization's token works on its repositories and is refused on another's", async () => {
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', `anyone:${token}`, `docker://${h.host}/acme/app:v1`])) as { Digest: string };
  assert.match(info.Digest, /^sha256:/);
  const other = tokenFor('other');
  await assert.rejects(
    skopeo(['inspect', '--tls-verify=false', '--creds', `x:${other}`, `docker://${h.host}/acme/app:v1`]),
    (err: Error) => /denied|forbidden|organization 'other'/i.test(err.message),
    "org other's token cannot pull acme/app",
  );
  await assert.rejects(
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${other}`, `oci:${layout}:v1`, `docker://${h.host}/acme/intruder:v1`]),
    (err: Error) => /denied|forbidden|organization 'other'/i.test(err.message),
    "org other's token cannot push into acme",
  );
  // The same token is fine in its own organization.
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${other}`, `oci:${layout}:v1`, `docker://${h.host}/other/app:v1`]);
  assert.equal((await tags('other/app', other)).status, 200);
});

test('the registry caveat allows the repositories and actions it names and refuses the rest', async () => {
  const pullApp = narrowed([{ type: 'registry', repositories: ['acme/app'], actions: ['pull'] }]);
  assert.equal((await tags('acme/app', pullApp)).status, 200, 'pull on the named repository');
  const otherRepo = await refusal(await tags('acme/else', pullApp));
  assert.equal(otherRepo.status, 403);
  assert.match(otherRepo.message, /registry.*acme\/app/, 'the message names the caveat and what it allows');
  const push = await refusal(await startUpload('acme/app', pullApp));
  assert.equal(push.status, 403, 'push is not in the caveat');
  assert.match(push.message, /registry action/);

  const pushApp = narrowed([{ type: 'registry', repositories: ['acme/app'], actions: ['pull', 'push'] }]);
  assert.equal((await startUpload('acme/app', pushApp)).status, 202, 'push allowed when named');
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${pushApp}`, `oci:${layout}:v1`, `docker://${h.host}/acme/app:v2`]);
  await assert.rejects(skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${pushApp}`, `oci:${layout}:v1`, `docker://${h.host}/acme/else:v1`]));

  const readOnly = narrowed([{ type: 'actions', actions: ['read'] }]);
  assert.equal((await tags('acme/app', readOnly)).status, 200, 'read allows pull');
  assert.equal((await startUpload('acme/app', readOnly)).status, 403, 'read does not allow push');
});

test('/token answers a bearer challenge with a narrowed, short-lived token', async () => {
  const challenged = await fetch(`${h.url}/v2/acme/app/tags/list`);
  assert.equal(challenged.status, 401);
  const header = challenged.headers.get('www-authenticate') ?? '';
  assert.match(header, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="aloft-registry",scope="repository:acme\/app:pull"$/);

  const basic = `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}`;
  const r = await fetch(`${h.url}/token?service=aloft-registry&scope=repository:acme/app:pull`, { headers: { authorization: basic } });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { token: string; expires_in: number };
  assert.ok(body.expires_in > 0 && body.expires_in <= 3600);
  const caveats = inspectToken(body.token).caveats;
  assert.deepEqual(caveats.find((c) => c.type === 'registry'), { type: 'registry', repositories: ['acme/app'], actions: ['pull'] });
  assert.ok(caveats.some((c) => c.type === 'expires'));
  assert.equal((await tags('acme/app', body.token)).status, 200);
  assert.equal((await startUpload('acme/app', body.token)).status, 403, 'pull was asked, so push is refused');
  assert.equal((await tags('acme/else', body.token)).status, 403);

  const denied = await fetch(`${h.url}/token?service=aloft-registry&scope=repository:acme/app:pull`, {
    headers: { authorization: `Basic ${Buffer.from(`x:${tokenFor('other')}`).toString('base64')}` },
  });
  assert.equal(denied.status, 403, 'another organization gets no token for acme');
});

test('expired, tampered, foreign-key and revoked tokens are refused with 401', async () => {
  const expired = narrowed([{ type: 'expires', notAfterMs: Date.now() - 1000 }]);
  assert.equal((await refusal(await tags('acme/app', expired))).status, 401);
  const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.equal((await tags('acme/app', forged)).status, 401);
  assert.equal((await tags('acme/app', 'aloft_not-a-macaroon')).status, 401);
  const strangers = new Keyring(systemClock);
  strangers.rotate();
  assert.equal((await tags('acme/app', mintToken({ keyring: strangers, org: 'acme' }))).status, 401, 'a key the registry does not hold');

  const revocable = mintToken({ keyring, org: 'acme', tokenId: 'tok_registry_revoke' });
  assert.equal((await tags('acme/app', revocable)).status, 200);
  h.revocations.add(['tok_registry_revoke']);
  const revoked = await refusal(await tags('acme/app', revocable));
  assert.deepEqual([revoked.status, revoked.code], [401, 'UNAUTHORIZED']);
  assert.match(revoked.message, /revoked/);
  const child = attenuate(revocable, [{ type: 'actions', actions: ['read'] }]);
  assert.equal((await tags('acme/app', child)).status, 401, 'tokens derived from a revoked token are refused too');
});

test('a token limited to an app reaches the repository <org>/<app> and no other', async () => {
  // The README's CI token: it deploys web, so it pushes web's image (deploy allows push) and reads it.
  const ci = narrowed([
    { type: 'apps', apps: ['web'] },
    { type: 'actions', actions: ['read', 'deploy'] },
  ]);
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${ci}`, `oci:${layout}:v1`, `docker://${h.host}/acme/web:v1`]);
  await assert.rejects(
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${ci}`, `oci:${layout}:v1`, `docker://${h.host}/acme/api:v1`]),
    (err: Error) => /denied|forbidden/i.test(err.message),
  );
  const nested = await refusal(await startUpload('acme/web/cache', ci));
  assert.equal(nested.status, 403, 'names nested under the app belong to no app');
  assert.match(nested.message, /apps/);

  // `aloft tokens create -a web --registry pull`.
  const pullWeb = narrowed([
    { type: 'apps', apps: ['web'] },
    { type: 'registry', repositories: ['acme/web'], actions: ['pull'] },
  ]);
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', `x:${pullWeb}`, `docker://${h.host}/acme/web:v1`])) as { Digest: string };
  assert.match(info.Digest, /^sha256:/);
  const otherApp = await refusal(await tags('acme/app', pullWeb));
  assert.equal(otherApp.status, 403);
  assert.match(otherApp.message, /apps web, not app 'app'/);
  assert.equal((await startUpload('acme/web', pullWeb)).status, 403, 'pull only');

  const deployOnly = narrowed([{ type: 'actions', actions: ['deploy'] }]);
  assert.equal((await startUpload('acme/web', deployOnly)).status, 202, 'deploy allows push');
  assert.equal((await tags('acme/web', deployOnly)).status, 403, 'but not pull, which needs read');
});

test('a token limited to machines gets no registry access: images belong to apps, not machines', async () => {
  const machineToken = narrowed([{ type: 'machines', machines: ['148ed193b95d89'] }]);
  const pull = await refusal(await tags('acme/app', machineToken));
  assert.equal(pull.status, 403);
  assert.match(pull.message, /machines/);
  assert.equal((await startUpload('acme/app', machineToken)).status, 403);
  const basic = `Basic ${Buffer.from(`x:${machineToken}`).toString('base64')}`;
  assert.equal((await fetch(`${h.url}/token?scope=repository:acme/app:pull`, { headers: { authorization: basic } })).status, 403, 'nor a token from /token');
});

test('a token limited to regions works only at a registry that serves one of them', async () => {
  const ams = narrowed([{ type: 'regions', regions: ['ams'] }]);
  const iad = narrowed([{ type: 'regions', regions: ['iad'] }]);
  const regional = await startRegistry(tokenAuth({ keyring, revocations: new RevocationList(), clock: systemClock, region: 'ams' }));
  try {
    const upload = (t: string): Promise<Response> => regional.call('/v2/acme/app/blobs/uploads/', { method: 'POST', ...bearer(t) });
    assert.equal((await upload(ams)).status, 202);
    const elsewhere = await refusal(await upload(iad));
    assert.equal(elsewhere.status, 403);
    assert.match(elsewhere.message, /regions iad, not region 'ams'/);
  } finally {
    await regional.stop();
  }
  const noRegion = await refusal(await tags('acme/app', ams));
  assert.equal(noRegion.status, 403, 'a registry serving no region refuses region-limited tokens');
  assert.match(noRegion.message, /regions.*names no region/);
});

test('/token refuses a scope naming an invalid repository with NAME_INVALID', async () => {
  const basic = `Basic ${Buffer.from(`x:${token}`).toString('base64')}`;
  for (const repository of [`acme/${'a'.repeat(300)}`, 'acme/x\u0001y', 'acme/Web']) {
    const scope = encodeURIComponent(`repository:${repository}:pull`);
    const r = await fetch(`${h.url}/token?service=aloft-registry&scope=${scope}`, { headers: { authorization: basic } });
    const refused = await refusal(r);
    assert.deepEqual([refused.status, refused.code], [400, 'NAME_INVALID'], JSON.stringify(repository.slice(0, 12)));
  }
  const anonymous = await fetch(`${h.url}/token?scope=${encodeURIComponent(`repository:acme/${'a'.repeat(300)}:pull`)}`);
  assert.equal(anonymous.status, 401, 'credentials are checked first');
});
