/** The example image: built with no public registry, it serves a page naming the machine. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { systemClock } from '../../src/lib/clock.ts';
import { buildExampleImage, examplePort } from '../../src/build/index.ts';
import { OciLayoutWriter } from '../../src/registry/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-example-test-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

interface Manifest {
  config: { digest: string };
  layers: { digest: string; mediaType: string }[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('the example image runs busybox httpd on 8080 and its page names the machine', async (t) => {
  const layout = join(dir, 'layout');
  const writer = new OciLayoutWriter(layout);
  const digest = await buildExampleImage(writer, 'acme/example', 'v1');
  const manifest = JSON.parse(await readFile(writer.blobPath(digest), 'utf8')) as Manifest;
  const config = JSON.parse(await readFile(writer.blobPath(manifest.config.digest), 'utf8')) as { config: { Entrypoint: string[]; ExposedPorts: object } };
  assert.deepEqual(config.config.Entrypoint, ['/bin/sh', '/start.sh']);
  assert.deepEqual(config.config.ExposedPorts, { [`${examplePort}/tcp`]: {} });
  assert.equal(await buildExampleImage(new OciLayoutWriter(join(dir, 'again')), 'acme/example', 'v1'), digest, 'the build is reproducible');

  if (process.getuid?.() !== 0) {
    t.skip('running the root filesystem needs chroot (root)');
    return;
  }
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs);
  await promisify(execFile)('tar', ['-xzf', writer.blobPath(manifest.layers[0]!.digest), '-C', rootfs]);
  const port = await freePort();
  const child = spawn('/usr/sbin/chroot', [rootfs, '/bin/sh', '/start.sh'], {
    env: { PATH: '/bin', PORT: String(port), ALOFT_MACHINE_ID: '3d8d9a1f2b7c44' },
    stdio: 'ignore',
  });
  try {
    const deadline = systemClock.monotonicMs() + 10_000;
    let page = '';
    while (systemClock.monotonicMs() < deadline && !page.includes('3d8d9a1f2b7c44')) {
      page = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => '');
      if (!page.includes('3d8d9a1f2b7c44')) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(page, /Hello from Aloft.*machine <code>3d8d9a1f2b7c44<\/code>/s);
    const cgi = await (await fetch(`http://127.0.0.1:${port}/cgi-bin/machine`)).text();
    assert.equal(cgi, 'machine 3d8d9a1f2b7c44\n');
  } finally {
    child.kill('SIGTERM');
  }
});
