/** Garbage collection keeps what manifests reference, removes the rest, and never breaks a push in flight. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { buildExampleImage } from '../../src/build/index.ts';
import { digestOf, mediaTypes } from '../../src/registry/index.ts';
import { startRegistry, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

test('gc keeps every blob a manifest references and removes unreferenced ones', async () => {
  h = await startRegistry({ gcGraceMs: 0 });
  const imageDigest = await buildExampleImage(h.client, 'acme/kept', 'v1');
  const manifest = JSON.parse((await h.client.getManifest('acme/kept', 'v1')).body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const referenced = [imageDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
  const orphan = await h.client.pushBlob('acme/kept', randomBytes(4096));

  const result = await h.server.gc();
  assert.equal(result.blobsDeleted, 1);
  assert.equal(result.bytesFreed, 4096);
  for (const digest of referenced) assert.ok(await exists(blobFile(h.dataDir, digest)), `${digest} kept`);
  assert.equal(await exists(blobFile(h.dataDir, orphan.digest)), false, 'orphan removed');
  assert.equal(await h.client.hasBlob('acme/kept', orphan.digest), false, 'and its repository link with it');

  // Deleting the manifest makes its blobs collectable.
  await h.client.deleteManifest('acme/kept', imageDigest);
  const second = await h.server.gc();
  assert.equal(second.blobsDeleted, referenced.length);
  for (const digest of referenced) assert.equal(await exists(blobFile(h.dataDir, digest)), false);
});

test('gc spares blobs newer than its grace period', async () => {
  h = await startRegistry({ gcGraceMs: 60_000 });
  const fresh = await h.client.pushBlob('acme/grace', randomBytes(100));
  const result = await h.server.gc();
  assert.equal(result.blobsDeleted, 0);
  assert.ok(await exists(blobFile(h.dataDir, fresh.digest)));
});

test('a push that relies on an old unreferenced blob during gc either keeps it or is refused, never left dangling', async () => {
  h = await startRegistry({ gcGraceMs: 0 });
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layers: { digest: string; size: number }[] = [];
  for (let i = 0; i < 200; i++) {
    const pushed = await h.client.pushBlob('acme/race', randomBytes(64));
    layers.push({ digest: pushed.digest, size: 64 });
  }
  const configBlob = await h.client.pushBlob('acme/race', config);
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.ociManifest,
      config: { mediaType: mediaTypes.ociConfig, digest: configBlob.digest, size: config.length },
      layers: layers.map((l) => ({ mediaType: mediaTypes.ociLayerGzip, ...l })),
    }),
  );
  // Start collecting (everything is unreferenced and old enough), and push the manifest meanwhile.
  const collecting = h.server.gc();
  const pushed = await h.client.pushManifest('acme/race', 'v1', mediaTypes.ociManifest, body).then(
    (digest) => ({ ok: true as const, digest }),
    (err: { code?: string }) => ({ ok: false as const, code: err.code }),
  );
  await collecting;
  if (pushed.ok) {
    assert.equal(pushed.digest, digestOf(body));
    for (const layer of layers) assert.ok(await exists(blobFile(h.dataDir, layer.digest)), 'a stored manifest keeps all its blobs');
    assert.equal((await h.server.gc()).blobsDeleted, 0, 'and the next collection sees them referenced');
  } else {
    assert.equal(pushed.code, 'MANIFEST_BLOB_UNKNOWN');
    await assert.rejects(h.client.getManifest('acme/race', 'v1'));
  }
});

test('a blob completed long after its last chunk is as fresh as its completion, so gc spares it until a manifest can name it', async () => {
  h = await startRegistry({ gcGraceMs: 60_000 });
  const data = randomBytes(2048);
  let r = await h.call('/v2/acme/slow/blobs/uploads/', { method: 'POST' });
  const location = r.headers.get('location')!;
  r = await h.call(location, { method: 'PATCH', body: data, headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${data.length - 1}` } });
  assert.equal(r.status, 202);
  // The client waited an hour between its last chunk and completing the upload.
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const name of await readdir(join(h.dataDir, 'tmp'))) await utimes(join(h.dataDir, 'tmp', name), hourAgo, hourAgo);
  const digest = digestOf(data);
  r = await h.call(`${location}?digest=${digest}`, { method: 'PUT' });
  assert.equal(r.status, 201);
  assert.equal((await h.server.gc()).blobsDeleted, 0);
  assert.ok(await exists(blobFile(h.dataDir, digest)));
});
