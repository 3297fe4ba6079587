/** Importing the three input kinds, and the client verifying what it reads. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import tar from 'tar-stream';
import { buildExampleImage } from '../../src/build/index.ts';
import { detectKind, digestOf, importImage, OciLayoutWriter, RegistryClient } from '../../src/registry/index.ts';
import { startRegistry, tokenFor, type Harness } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startRegistry();
});
after(async () => h.stop());

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Names of the entries in a (possibly gzipped) tar layer. */
async function layerEntries(layer: Buffer): Promise<Map<string, string>> {
  const raw = layer[0] === 0x1f ? gunzipSync(layer) : layer;
  const extract = tar.extract();
  const entries = new Map<string, string>();
  const reading = (async () => {
    for await (const entry of extract) {
      entries.set(entry.header.name, entry.header.type === 'symlink' ? `-> ${entry.header.linkname}` : (await readAll(entry as unknown as AsyncIterable<Buffer>)).toString('utf8'));
    }
  })();
  extract.end(raw);
  await reading;
  return entries;
}

async function pullLayers(repo: string, tag: string): Promise<{ config: Record<string, unknown>; layers: Buffer[] }> {
  const manifest = JSON.parse((await h.client.getManifest(repo, tag)).body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = JSON.parse((await readAll(await h.client.getBlob(repo, manifest.config.digest))).toString()) as Record<string, unknown>;
  const layers: Buffer[] = [];
  for (const layer of manifest.layers) layers.push(await readAll(await h.client.getBlob(repo, layer.digest)));
  return { config, layers };
}

test('a root filesystem directory becomes a one-layer image with the given run config', async () => {
  const dir = join(h.dir, 'rootfs');
  await mkdir(join(dir, 'app'), { recursive: true });
  await writeFile(join(dir, 'app', 'hello.txt'), 'hello\n');
  assert.equal(await detectKind(dir), 'rootfs');
  const result = await importImage(h.client, dir, {
    repository: 'acme/rootfs',
    tag: 'v1',
    run: { entrypoint: ['/app/run'], cmd: ['--port', '80'], env: ['A=1'], workingDir: '/app', exposedPorts: [80] },
  });
  assert.equal(result.kind, 'rootfs');
  const { config, layers } = await pullLayers('acme/rootfs', 'v1');
  const run = config.config as Record<string, unknown>;
  assert.deepEqual(run.Entrypoint, ['/app/run']);
  assert.deepEqual(run.Cmd, ['--port', '80']);
  assert.equal(run.WorkingDir, '/app');
  assert.deepEqual(run.ExposedPorts, { '80/tcp': {} });
  assert.ok((run.Env as string[]).includes('A=1'));
  const entries = await layerEntries(layers[0]!);
  assert.equal(entries.get('app/hello.txt'), 'hello\n');
  const diffIds = (config.rootfs as { diff_ids: string[] }).diff_ids;
  assert.equal(diffIds[0], digestOf(gunzipSync(layers[0]!)), 'diff id is the digest of the uncompressed layer');
  const again = await importImage(h.client, dir, { repository: 'acme/rootfs', tag: 'v2', run: { entrypoint: ['/app/run'], cmd: ['--port', '80'], env: ['A=1'], workingDir: '/app', exposedPorts: [80] } });
  assert.equal(again.digest, result.digest, 'packing is deterministic');
});

test('an OCI image layout is imported with its manifest unchanged', async () => {
  const layout = join(h.dir, 'layout');
  const built = await buildExampleImage(new OciLayoutWriter(layout), 'acme/ignored', 'latest');
  assert.equal(await detectKind(layout), 'oci-layout');
  const result = await importImage(h.client, layout, { repository: 'acme/from-layout', tag: 'v1' });
  assert.deepEqual(result, { kind: 'oci-layout', digest: built });
  const { layers } = await pullLayers('acme/from-layout', 'v1');
  const entries = await layerEntries(layers[0]!);
  assert.equal(entries.get('bin/sh'), '-> busybox');
});

/** Writes a docker-save tarball: classic (`<id>/layer.tar`, a symlinked duplicate) or the newer OCI-style one. */
async function writeDockerArchive(path: string, style: 'classic' | 'oci'): Promise<void> {
  const layerTar = await readAll(
    (async function* () {
      const pack = tar.pack();
      pack.entry({ name: 'etc/motd' }, 'from docker\n');
      pack.finalize();
      yield* pack as AsyncIterable<Buffer>;
    })(),
  );
  const layer = style === 'oci' ? gzipSync(layerTar) : layerTar;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [digestOf(layerTar), digestOf(layerTar)] } }));
  const pack = tar.pack();
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(path));
  const hex = (d: string): string => d.slice(7);
  if (style === 'classic') {
    pack.entry({ name: 'aaa/', type: 'directory' });
    pack.entry({ name: 'aaa/layer.tar' }, layer);
    pack.entry({ name: 'bbb/', type: 'directory' });
    pack.entry({ name: 'bbb/layer.tar', type: 'symlink', linkname: '../aaa/layer.tar' });
    pack.entry({ name: `${hex(digestOf(config))}.json` }, config);
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: `${hex(digestOf(config))}.json`, RepoTags: ['demo:latest'], Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }]));
  } else {
    pack.entry({ name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}');
    pack.entry({ name: `blobs/sha256/${hex(digestOf(layer))}` }, layer);
    pack.entry({ name: `blobs/sha256/${hex(digestOf(config))}` }, config);
    pack.entry({ name: 'index.json' }, '{"schemaVersion":2,"manifests":[]}');
    const member = `blobs/sha256/${hex(digestOf(layer))}`;
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: `blobs/sha256/${hex(digestOf(config))}`, RepoTags: ['demo:latest'], Layers: [member, member] }]));
  }
  pack.finalize();
  await writing;
}

for (const style of ['classic', 'oci'] as const) {
  test(`a docker save tarball (${style} layout) is imported`, async () => {
    const archive = join(h.dir, `docker-${style}.tar`);
    await writeDockerArchive(archive, style);
    assert.equal(await detectKind(archive), 'docker-archive');
    const result = await importImage(h.client, archive, { repository: `acme/docker-${style}`, tag: 'v1' });
    assert.equal(result.kind, 'docker-archive');
    const manifest = JSON.parse((await h.client.getManifest(`acme/docker-${style}`, 'v1')).body.toString()) as { layers: { mediaType: string }[] };
    assert.equal(manifest.layers.length, 2);
    assert.equal(manifest.layers[0]!.mediaType, style === 'oci' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar');
    const { config, layers } = await pullLayers(`acme/docker-${style}`, 'v1');
    assert.deepEqual((config.config as { Cmd: string[] }).Cmd, ['/bin/sh']);
    assert.equal((await layerEntries(layers[1]!)).get('etc/motd'), 'from docker\n');
  });
}

test('an archive member that climbs out of the archive is refused', async () => {
  const archive = join(h.dir, 'evil.tar');
  const pack = tar.pack();
  const writing = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(archive));
  pack.entry({ name: 'manifest.json', type: 'symlink', linkname: '../../../../etc/passwd' });
  pack.finalize();
  await writing;
  await assert.rejects(importImage(h.client, archive, { repository: 'acme/evil', tag: 'v1' }), /escapes the archive/);
});

test('the client fails a blob or manifest whose bytes do not match the digest', async () => {
  const good = Buffer.from('the real content');
  const digest = digestOf(good);
  const liar = createServer((req, res) => {
    const body = Buffer.from('tampered content');
    const isManifest = req.url?.includes('/manifests/') ?? false;
    res.writeHead(200, { 'content-type': isManifest ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  const client = new RegistryClient({ url: `http://127.0.0.1:${(liar.address() as AddressInfo).port}` });
  try {
    const stream = await client.getBlob('acme/x', digest);
    await assert.rejects(readAll(stream), (err: { code?: string }) => err.code === 'DIGEST_INVALID');
    await assert.rejects(client.getManifest('acme/x', digest), (err: { code?: string }) => err.code === 'DIGEST_INVALID');
  } finally {
    await client.close();
    liar.closeAllConnections();
    await new Promise((resolve) => liar.close(resolve));
  }
  // And against the real registry the same read succeeds.
  await h.client.pushBlob('acme/x', good);
  assert.deepEqual(await readAll(await h.client.getBlob('acme/x', digest)), good);
  assert.equal((await readFile(join(h.dataDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)))).toString(), 'the real content');
});

test('client pushBlob streams with an unknown digest, skips present blobs, and mounts within an org', async () => {
  const data = Buffer.alloc(3 * 1024 * 1024, 7);
  const { Readable } = await import('node:stream');
  const pushed = await h.client.pushBlob('acme/stream', Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]));
  assert.deepEqual(pushed, { digest: digestOf(data), sizeBytes: data.length });
  assert.equal(await h.client.hasBlob('acme/stream', pushed.digest), true);
  assert.deepEqual(await h.client.pushBlob('acme/stream', data, pushed.digest), pushed);
  assert.equal(await h.client.mountBlob('acme/stream2', pushed.digest, 'acme/stream'), true);
  const other = new RegistryClient({ url: h.url, credentials: { password: tokenFor('other') } });
  try {
    assert.equal(await other.mountBlob('other/stream', pushed.digest, 'acme/stream'), false, "org other's token cannot mount from acme");
  } finally {
    await other.close();
  }
  await assert.rejects(h.client.pushBlob('acme/stream', Buffer.from('abc'), digestOf('abd')), (err: { code?: string }) => err.code === 'DIGEST_INVALID');
});
