/** The registry against a real client: skopeo copies an image in and out, inspects and deletes it. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildExampleImage } from '../../src/build/index.ts';
import { OciLayoutWriter } from '../../src/registry/index.ts';
import { skopeo, startRegistry, token, type Harness } from './helpers.ts';

let h: Harness;
let layout: string;
let builtDigest: string;

before(async () => {
  h = await startRegistry();
  layout = join(h.dir, 'layout');
  builtDigest = await buildExampleImage(new OciLayoutWriter(layout), 'acme/example', 'v1');
});
after(async () => h.stop());

test('skopeo pushes an OCI layout with --dest-creds through the token dance', async () => {
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `x:${token}`, `oci:${layout}:v1`, `docker://${h.host}/acme/example:v1`]);
  const manifest = await h.client.getManifest('acme/example', 'v1');
  assert.equal(manifest.digest, builtDigest, 'the registry stores the manifest byte for byte');
});

test('skopeo inspect sees the tag, config and layers', async () => {
  const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', `x:${token}`, `docker://${h.host}/acme/example:v1`])) as {
    Digest: string;
    RepoTags: string[];
    Layers: string[];
    Env: string[];
  };
  assert.equal(info.Digest, builtDigest);
  assert.deepEqual(info.RepoTags, ['v1']);
  assert.equal(info.Layers.length, 1);
  assert.ok(info.Env.includes('PORT=8080'));
});

test('skopeo pulls it back to an identical OCI layout', async () => {
  const back = join(h.dir, 'back');
  await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `x:${token}`, `docker://${h.host}/acme/example:v1`, `oci:${back}:v1`]);
  const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  assert.equal(index.manifests[0]?.digest, builtDigest);
});

test('skopeo without credentials is refused', async () => {
  await assert.rejects(skopeo(['inspect', '--tls-verify=false', '--no-creds', `docker://${h.host}/acme/example:v1`]), /unauthorized|authentication required/i);
  await assert.rejects(skopeo(['inspect', '--tls-verify=false', '--creds', 'x:wrong', `docker://${h.host}/acme/example:v1`]), /401|unauthorized|invalid username\/password/i);
});

test('skopeo delete removes the manifest', async () => {
  await skopeo(['delete', '--tls-verify=false', '--creds', `x:${token}`, `docker://${h.host}/acme/example@${builtDigest}`]);
  await assert.rejects(h.client.getManifest('acme/example', 'v1'), (err: { code?: string }) => err.code === 'MANIFEST_UNKNOWN');
  await assert.rejects(h.client.getManifest('acme/example', builtDigest), (err: { code?: string }) => err.code === 'MANIFEST_UNKNOWN');
});
