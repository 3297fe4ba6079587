/**
 * `aloft build` with a Dockerfile, through the CLI against a real platform: buildah builds from
 * scratch (no base image needed), pushes to the platform's registry, and the pushed manifest is
 * there under the returned digest. Failures exit with their fault's code and show the failing
 * step and its output.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { text } from 'node:stream/consumers';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { skipWithoutBuildTools } from '../helpers/root-prerequisites.ts';

const skip = await skipWithoutBuildTools();
let p: TestPlatform;
let work: string;

/** A build context with busybox and `dockerfile`. */
async function context(name: string, dockerfile: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await copyFile('/bin/busybox', join(dir, 'busybox'));
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(['--data-dir', p.dataDir, ...args]);

describe('aloft build with a Dockerfile', { skip }, () => {
  before(async () => {
    p = await startTestPlatform();
    work = await mkdtemp(join(tmpdir(), 'aloft-build-test-'));
  });
  after(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    await p?.stop();
    if (p !== undefined) await rm(p.dataDir, { recursive: true, force: true });
  });

  it('builds, streams its steps, pushes, and prints the reference; --build-arg reaches RUN', async () => {
    const dir = await context(
      'ok',
      ['FROM scratch', 'ARG GREETING=unset', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /etc && echo $GREETING > /etc/greeting && echo wrote-greeting"]', 'CMD ["/bin/busybox", "cat", "/etc/greeting"]', ''].join('\n'),
    );
    const r = await cli(['build', dir, '--image', 'built:v1', '--build-arg', 'GREETING=hi-there', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /STEP 1\/5:.* FROM scratch/);
    assert.match(r.stderr, /STEP 4\/5:.* RUN/);
    assert.match(r.stderr, /wrote-greeting/);
    const built = JSON.parse(r.stdout) as { reference: string; repository: string; digest: string; generated: boolean };
    assert.equal(built.repository, 'personal/built');
    assert.equal(built.generated, false);
    assert.match(built.digest, /^sha256:[0-9a-f]{64}$/);

    const registry = new RegistryClient({ url: p.endpoints.registry, credentials: { password: p.endpoints.token } });
    try {
      const manifest = await registry.getManifest('personal/built', 'v1');
      assert.equal(manifest.digest, built.digest, 'the tag points at the digest the build returned');
      const parsed = JSON.parse(manifest.body.toString('utf8')) as { config: { digest: string }; layers: unknown[] };
      assert.equal(parsed.layers.length, 2, 'one layer for COPY, one for RUN');
      const config = JSON.parse(await text(await registry.getBlob('personal/built', parsed.config.digest))) as { config: { Cmd: string[] } };
      assert.deepEqual(config.config.Cmd, ['/bin/busybox', 'cat', '/etc/greeting']);
    } finally {
      await registry.close();
    }
    // The build storage lives in the platform's data directory.
    assert.ok((await readFile(join(p.dataDir, 'build', 'storage', 'overlay-images', 'images.json'), 'utf8')).includes('personal/built'));
  });

  it('a failing RUN exits 3 (the app) and shows the failing step and its last output', async () => {
    const dir = await context('fails', ['FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "sh", "-c", "echo compiling-things; echo broken-dependency >&2; exit 7"]', ''].join('\n'));
    const r = await cli(['build', dir, '--image', 'fails:v1']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /failed at STEP 3\/3: RUN .*exit 7.*status 7/);
    assert.match(r.stderr, /your app failed; build_step_failed/);
    const lastLines = r.stderr.slice(r.stderr.indexOf('Last log lines:'));
    assert.match(lastLines, /compiling-things/);
    assert.match(lastLines, /broken-dependency/);
    assert.doesNotMatch(lastLines, /subprocess exited|^Error:/m, 'only the step\'s own output');
  });

  it('a Dockerfile mistake exits 2 (config) naming the step', async () => {
    const dir = await context('missing-file', ['FROM scratch', 'COPY not-there /x', ''].join('\n'));
    const r = await cli(['build', dir, '--image', 'broken:v1']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /failed at STEP 2\/2: COPY not-there \/x: .*no such file/);
    assert.match(r.stderr, /configuration error; build_failed/);
  });

  it('a FROM image missing from the registry exits 2 and says how to bootstrap the bases', async () => {
    const dir = await context('no-base', ['FROM no-such-base:1', 'CMD ["true"]', ''].join('\n'));
    const r = await cli(['build', dir, '--image', 'nobase:v1']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /a FROM image is not on the registry/);
    assert.match(r.stderr, new RegExp(`${new URL(p.endpoints.registry).host}/personal/no-such-base:1`));
    assert.match(r.stderr, /aloft images bootstrap debian/);
  });

  it('leaves no mounts behind, even after failed builds', async () => {
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    assert.equal(mounts.split('\n').filter((l) => l.includes(join(p.dataDir, 'build'))).length, 0, mounts);
  });

  it('a directory with neither a Dockerfile nor package.json is refused with a hint', async () => {
    const dir = join(work, 'empty');
    await mkdir(dir);
    const r = await cli(['build', dir, '--image', 'empty:v1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /has no Dockerfile and is not a Node\.js app/);
    assert.match(r.stderr, /Hint: add a Dockerfile/);
  });
});
