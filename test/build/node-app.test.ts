/**
 * The README's path end to end: bootstrap the Debian and Node.js base images (debootstrap's
 * result is cached across runs under the cache directory), build examples/hello-node with no
 * Dockerfile (one is generated), run it as a machine with the CLI, and get its greeting through
 * the proxy, naming the machine and its region.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { Machine } from '../../src/lib/index.ts';
import { cliJson, runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { skipWithoutBuildTools } from '../helpers/root-prerequisites.ts';

const skip = await skipWithoutBuildTools();
const exampleDir = join(import.meta.dirname, '..', '..', 'examples', 'hello-node');
const app = 'hello-node-test';
let p: TestPlatform;

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(['--data-dir', p.dataDir, ...args]);

describe('a Node.js app built on bootstrapped base images', { skip }, () => {
  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => {
    if (p === undefined) return;
    await cli(['apps', 'destroy', app, '--yes']).catch(() => undefined);
    const agent = p.platform.agent;
    if (agent !== undefined) await eventually('machines destroyed', () => agent.service.list().length === 0, 30_000).catch(() => undefined);
    await p.stop();
    await rm(p.dataDir, { recursive: true, force: true });
  });

  it('bootstraps debian:bookworm and node:24 into the org', async () => {
    const r = await cli(['images', 'bootstrap', 'debian', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { debian: { repository: string; tag: string }; node: { repository: string; tag: string } };
    assert.deepEqual([result.debian.repository, result.debian.tag], ['personal/debian', 'bookworm']);
    assert.deepEqual([result.node.repository, result.node.tag], ['personal/node', '24']);
    // The Node.js image proved node and npm run on this Debian while it was built.
    assert.match(r.stderr, /STEP \d+\/\d+:.* RUN .*node --version/);
    assert.match(r.stderr, /v24\.\d+\.\d+/);
  });

  it('builds the example with a generated Dockerfile, runs it, and serves it through the proxy', async () => {
    const built = await cli(['build', exampleDir, '--image', 'hello-node:v1', '--json']);
    assert.equal(built.code, 0, built.stderr);
    assert.equal((JSON.parse(built.stdout) as { generated: boolean }).generated, true);
    assert.match(built.stderr, /STEP 1\/\d+:.* FROM .*\/personal\/node:24/);

    assert.equal((await cli(['apps', 'create', app])).code, 0);
    const machine = await cliJson<Machine>(['--data-dir', p.dataDir, 'machine', 'run', 'hello-node:v1', '-a', app, '-p', '80:8080/tcp:http', '-e', 'GREETING=Howdy']);
    assert.equal(machine.state, 'started');
    const body = await eventually(
      'the proxy to serve the Node.js app',
      async () => {
        const res = await request(`${p.endpoints.proxy}/`, { headers: { host: `${app}.aloft.localhost` } });
        const text = await res.body.text();
        return res.statusCode === 200 ? text : undefined;
      },
      30_000,
    );
    assert.match(body, new RegExp(`^Howdy! machine ${machine.id} in region ${machine.region}, Node\\.js v24\\.`));
  });

  it('aloft launch takes the example from source to served: detected, configured, built, deployed', async () => {
    const source = await mkdtemp(join(tmpdir(), 'aloft-launch-node-'));
    try {
      await cp(exampleDir, source, { recursive: true });
      const launched = await cli(['launch', source, '--name', 'hello-launched', '--yes']);
      assert.equal(launched.code, 0, launched.stderr);
      assert.match(launched.stderr, /detected a Node\.js app, serving port 8080/);
      assert.match(launched.stderr, /release v1 of hello-launched is live/);
      const body = await eventually('the launched app to answer', async () => {
        const res = await request(`${p.endpoints.proxy}/`, { headers: { host: 'hello-launched.aloft.localhost' } });
        const text = await res.body.text();
        return res.statusCode === 200 ? text : undefined;
      });
      assert.match(body, /^Hello from Aloft! machine [0-9a-f]{14} in region dev, Node\.js v24\./);
    } finally {
      await cli(['apps', 'destroy', 'hello-launched', '--yes']).catch(() => undefined);
      await rm(source, { recursive: true, force: true });
    }
  });
});
