/**
 * `aloft registry gc` through the API: an operator's token runs the collection in the
 * registry's process, images in use survive it (and still pull), and a token limited to one
 * app may not run it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeExampleRootfs } from '../../src/build/index.ts';
import type { GcResult } from '../../src/registry/index.ts';
import { attenuate } from '../../src/tokens/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;
const cli = (args: string[]) => runCli(['--data-dir', p.dataDir, ...args]);

before(async () => {
  p = await startTestPlatform();
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    const imported = await cli(['images', 'import', rootfs, '--tag', 'kept:v1', '--cmd', '/bin/sh /start.sh']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
});

after(async () => {
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

test('an operator collects; referenced blobs stay and the image still runs', async () => {
  const r = await cli(['registry', 'gc', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as GcResult;
  assert.equal(result.blobsDeleted, 0);
  assert.ok(result.blobsKept >= 2, `layer and config kept: ${r.stdout}`);
  assert.equal((await cli(['apps', 'create', 'kept'])).code, 0);
  const run = await cli(['machine', 'run', 'kept:v1', '-a', 'kept']);
  assert.equal(run.code, 0, run.stderr);
});

test('a token limited to one app may not collect', async () => {
  const narrow = attenuate(p.endpoints.token, [{ type: 'apps', apps: ['kept'] }]);
  const r = await cli(['--access-token', narrow, 'registry', 'gc']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /apps/);
});
