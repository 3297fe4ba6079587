import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { LocalImageStore, ociLayoutSource, type ImageSource } from '../../../src/agent/image/index.ts';
import { buildBusyboxLayout, type Fixture } from './oci-fixture.ts';

const isRoot = process.getuid?.() === 0;
let work: string;
let fixture: Fixture;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aloft-image-'));
  fixture = await buildBusyboxLayout(join(work, 'layout'));
});

after(async () => {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  await rm(work, { recursive: true, force: true });
  assert.ok(!mounts.includes(work), 'a rootfs mount leaked');
});

/** Counts blob downloads, to prove each digest is fetched once. */
function counting(source: ImageSource): { source: ImageSource; blobGets: Map<string, number> } {
  const blobGets = new Map<string, number>();
  return {
    blobGets,
    source: {
      getManifest: (repo, ref) => source.getManifest(repo, ref),
      getBlob: async (repo, digest) => {
        blobGets.set(digest, (blobGets.get(digest) ?? 0) + 1);
        return source.getBlob(repo, digest);
      },
    },
  };
}

test('pulling a multi-platform index picks linux/amd64, fetches each blob once even when pulls race', async () => {
  const { source, blobGets } = counting(ociLayoutSource(fixture.dir));
  const store = new LocalImageStore({ dataDir: join(work, 'race'), source });
  const pulls = await Promise.all([store.pull('acme/app:latest'), store.pull('acme/app:latest'), store.pull('acme/app:single')]);
  for (const image of pulls) {
    assert.equal(image.digest, fixture.manifestDigest);
    assert.deepEqual(image.layers, fixture.layerDigests);
    assert.deepEqual(image.config.cmd, ['/bin/sh', '-c', 'echo hello from the image']);
    assert.deepEqual(image.config.exposedPorts, [8080]);
  }
  assert.equal(pulls[0]!.ref.repository, 'acme/app');
  for (const [digest, count] of blobGets) assert.equal(count, 1, `${digest} fetched ${count} times`);
  assert.equal(blobGets.size, 3, 'config and two layers');
  await store.pull('acme/app:latest');
  for (const count of blobGets.values()) assert.equal(count, 1, 'a repeated pull fetches nothing');
});

test('a pull by digest works with the source down once the image is cached', async () => {
  const dataDir = join(work, 'offline');
  await new LocalImageStore({ dataDir, source: ociLayoutSource(fixture.dir) }).pull('acme/app:single');
  const down: ImageSource = {
    getManifest: () => Promise.reject(new Error('registry down')),
    getBlob: () => Promise.reject(new Error('registry down')),
  };
  const image = await new LocalImageStore({ dataDir, source: down }).pull(`acme/app@${fixture.manifestDigest}`);
  assert.equal(image.digest, fixture.manifestDigest);
});

test('a blob whose content does not match its digest is refused and leaves nothing behind', async () => {
  const real = ociLayoutSource(fixture.dir);
  const corrupt: ImageSource = {
    getManifest: (repo, ref) => real.getManifest(repo, ref),
    getBlob: async (repo, digest): Promise<Readable> => {
      if (digest !== fixture.layerDigests[1]) return real.getBlob(repo, digest);
      const s = new PassThrough();
      s.end(Buffer.from('not the layer'));
      return s;
    },
  };
  const dataDir = join(work, 'corrupt');
  await assert.rejects(new LocalImageStore({ dataDir, source: corrupt }).pull('acme/app:single'), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'blob_digest_mismatch');
    assert.equal((err as { fault?: string }).fault, 'platform');
    return true;
  });
  const blobs = await readdir(join(dataDir, 'images', 'blobs', 'sha256'));
  assert.ok(!blobs.includes(fixture.layerDigests[1]!.slice(7)), 'corrupt blob stored');
  assert.ok(!blobs.some((b) => b.startsWith('.tmp')), 'temporary file left');
});

for (const mode of isRoot ? ['overlay', 'copy'] : ['copy']) {
  test(`${mode} root filesystem applies whiteouts, opaque dirs, links and modes; is private; release is idempotent`, async () => {
    const store = new LocalImageStore({ dataDir: join(work, mode), source: ociLayoutSource(fixture.dir), root: mode === 'overlay' });
    const image = await store.pull('acme/app:latest');
    const rootfs = await store.prepareRootfs('m1', image);
    assert.equal(await store.prepareRootfs('m1', image), rootfs, 'prepare is idempotent');
    const other = await store.prepareRootfs('m2', image);

    await assert.rejects(stat(join(rootfs, 'etc/removed.txt')), 'whiteout removes the file');
    await assert.rejects(stat(join(rootfs, 'opaque/dir/a.txt')), 'opaque dir hides lower content');
    assert.equal(await readFile(join(rootfs, 'opaque/dir/b.txt'), 'utf8'), 'visible\n');
    assert.equal(await readlink(join(rootfs, 'bin/sh')), 'busybox');
    assert.equal(await readlink(join(rootfs, 'etc/link-to-passwd')), '/etc/passwd');
    const box = await stat(join(rootfs, 'bin/busybox'));
    assert.equal(box.mode & 0o777, 0o755);
    assert.equal((await stat(join(rootfs, 'bin/hardbox'))).ino, box.ino, 'hardlink kept');
    assert.equal((await lstat(join(rootfs, 'tmp'))).mode & 0o7777, mode === 'overlay' ? 0o1777 : 0o1777 | 0o700);
    const owned = await stat(join(rootfs, 'etc/owned.txt'));
    if (mode === 'overlay') {
      assert.equal(owned.uid, 1000);
      assert.equal(owned.mode & 0o777, 0o600);
    }

    await writeFile(join(rootfs, 'etc/new.txt'), 'mine');
    await rm(join(rootfs, 'etc/passwd'));
    await assert.rejects(stat(join(other, 'etc/new.txt')), 'writes are private to a machine');
    assert.ok((await stat(join(other, 'etc/passwd'))).isFile(), 'deletes are private to a machine');

    assert.deepEqual(await store.listRootfs(), ['m1', 'm2']);
    await store.releaseRootfs('m1');
    await store.releaseRootfs('m1');
    await store.releaseRootfs('m2');
    assert.deepEqual(await store.listRootfs(), []);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(join(work, mode)), 'overlay still mounted');
  });
}

test('machine ids that could escape the store are refused', async () => {
  const store = new LocalImageStore({ dataDir: join(work, 'ids'), source: ociLayoutSource(fixture.dir), root: false });
  const image = await store.pull('acme/app:single');
  await assert.rejects(store.prepareRootfs('../x', image), /cannot name a directory/);
});
