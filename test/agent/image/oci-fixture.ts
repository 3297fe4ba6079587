/**
 * Builds a small OCI image layout on disk from the host's static busybox, for tests: never pulls
 * from a public registry. Two layers: an uncompressed base (busybox, applet symlinks, a hardlink,
 * files to be deleted) and a gzip layer with a whiteout, an opaque directory and owned files.
 * `index.json` tags `latest` (a multi-platform index: linux/amd64 + linux/arm64) and `single`
 * (the amd64 manifest directly).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

export const busyboxPath = '/bin/busybox';
const applets = ['sh', 'sleep', 'cat', 'echo', 'httpd', 'ls', 'kill', 'head', 'dd', 'true', 'false', 'env', 'id', 'hostname', 'wc', 'ps', 'touch', 'rm', 'mkdir', 'ip', 'wget', 'nc', 'tail', 'pwd'];

export interface Fixture {
  dir: string;
  indexDigest: string;
  manifestDigest: string;
  layerDigests: string[];
}

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
}

export async function buildBusyboxLayout(dir: string, cmd: string[] = ['/bin/sh', '-c', 'echo hello from the image']): Promise<Fixture> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const busybox = await readFile(busyboxPath);
  const base = await tarOf([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/busybox', body: busybox, mode: 0o755 },
    { name: 'bin/hardbox', type: 'link', linkname: 'bin/busybox' },
    ...applets.map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { name: 'etc/group', body: 'root:x:0:\nnobody:x:65534:\n' },
    { name: 'etc/removed.txt', body: 'deleted by layer 2\n' },
    { name: 'opaque/dir/a.txt', body: 'hidden by the opaque marker\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'var/www/', type: 'directory', mode: 0o755 },
  ]);
  const top = gzipSync(
    await tarOf([
      { name: 'etc/.wh.removed.txt', body: '' },
      { name: 'opaque/dir/.wh..wh..opq', body: '' },
      { name: 'opaque/dir/b.txt', body: 'visible\n' },
      { name: 'var/www/index.html', body: 'hello over the veth\n' },
      { name: 'etc/owned.txt', body: 'secret\n', mode: 0o600, uid: 1000, gid: 1000 },
      { name: 'etc/link-to-passwd', type: 'symlink', linkname: '/etc/passwd' },
    ]),
  );
  const baseDigest = await blob(dir, base);
  const topDigest = await blob(dir, top);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: cmd, Env: ['PATH=/bin', 'GREETING=hi'], WorkingDir: '/', ExposedPorts: { '8080/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [sha(base), sha(gunzipSync(top))] },
    }),
  );
  const configDigest = await blob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: baseDigest, size: base.length },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: topDigest, size: top.length },
      ],
    }),
  );
  const manifestDigest = await blob(dir, manifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        // A manifest for another platform that is never fetched: picking it would fail the test.
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }),
  );
  const indexDigest = await blob(dir, index);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'single' } },
      ],
    }),
  );
  return { dir, indexDigest, manifestDigest, layerDigests: [baseDigest, topDigest] };
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : e.body;
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date(1_700_000_000_000),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
    };
    await new Promise<void>((resolve, reject) => {
      if (body === undefined) p.entry(header, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, body, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function blob(dir: string, body: Buffer): Promise<string> {
  const digest = sha(body);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), body);
  return digest;
}

function sha(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}
