/**
 * `aloft launch` from a source directory with a Dockerfile (FROM scratch, so no base image is
 * needed): it detects the port, writes aloft.toml, creates the app, builds with buildah, and
 * deploys — the app answers through the proxy. Launching again under a taken name says what to do.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import { parseAppConfig } from '../../src/deploy/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { skipWithoutBuildTools } from '../helpers/root-prerequisites.ts';

const skip = await skipWithoutBuildTools();
let p: TestPlatform;
let dir: string;
const cli = (args: string[]) => runCli(['--data-dir', p.dataDir, ...args]);

describe('aloft launch', { skip }, () => {
  before(async () => {
    p = await startTestPlatform();
    dir = await mkdtemp(join(tmpdir(), 'aloft-launch-'));
    await mkdir(join(dir, 'rootfs'));
    await writeExampleRootfs(join(dir, 'rootfs'));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nENV PORT=8081\nEXPOSE 8081\nCMD ["/bin/sh", "/start.sh"]\n');
  });

  after(async () => {
    if (p === undefined) return;
    await p.stop();
    await rm(p.dataDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('detects, writes aloft.toml, creates, builds and deploys the app', async () => {
    const launched = await cli(['launch', dir, '--name', 'launched-site', '--yes']);
    assert.equal(launched.code, 0, launched.stderr);
    assert.match(launched.stderr, /detected a Dockerfile, serving port 8081/);
    assert.match(launched.stderr, /STEP 2\/\d+: COPY rootfs\/ \//);
    assert.match(launched.stderr, /release v1 of launched-site is live/);
    const config = parseAppConfig(await readFile(join(dir, 'aloft.toml'), 'utf8'), 'aloft.toml').config;
    assert.equal(config.app, 'launched-site');
    assert.equal(config.http_service?.internal_port, 8081);
    const page = await eventually('the launched app to answer', async () => {
      const res = await request(`${p.endpoints.proxy}/`, { headers: { host: 'launched-site.aloft.localhost' } });
      const text = await res.body.text();
      return res.statusCode === 200 ? text : undefined;
    });
    assert.match(page, /Hello from Aloft/);
  });

  it('a second launch keeps the written config and refuses the taken name with a way forward', async () => {
    const again = await cli(['launch', dir, '--yes']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /using the existing .*aloft\.toml/);
    assert.match(again.stderr, /already exists/);
    assert.match(again.stderr, /aloft deploy/);
  });

  it('a fly.toml in the shape of a public example app deploys unchanged', async () => {
    // The layout `fly launch` writes (comments, quoting, sections and all), for an app with a Dockerfile.
    const flyToml = `# fly.toml app configuration file generated for example-site on 2026-11-01T10:12:33Z
#
# See https://fly.io/docs/reference/configuration/ for information about how to use this file.
#

app = 'example-site'
primary_region = 'dev'
kill_signal = 'SIGINT'
kill_timeout = '5s'

[build]
  dockerfile = 'Dockerfile'

[env]
  LOG_LEVEL = 'info'
  PORT = '8081'

[http_service]
  internal_port = 8081
  force_https = true
  auto_stop_machines = 'stop'
  auto_start_machines = true
  min_machines_running = 0
  processes = ['app']

  [http_service.concurrency]
    type = 'requests'
    hard_limit = 250
    soft_limit = 200

  [[http_service.checks]]
    interval = '2s'
    timeout = '2s'
    grace_period = '1s'
    method = 'GET'
    path = '/'

[[vm]]
  memory = '512mb'
  cpu_kind = 'shared'
  cpus = 1
`;
    const site = await mkdtemp(join(tmpdir(), 'aloft-flytoml-'));
    try {
      // verbatimSymlinks: the busybox applets are relative symlinks, which must stay relative.
      await cp(join(dir, 'rootfs'), join(site, 'rootfs'), { recursive: true, verbatimSymlinks: true });
      await writeFile(join(site, 'Dockerfile'), await readFile(join(dir, 'Dockerfile'), 'utf8'));
      await writeFile(join(site, 'fly.toml'), flyToml);
      assert.equal((await cli(['apps', 'create', 'example-site'])).code, 0);
      const deployed = await cli(['deploy', site]);
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.doesNotMatch(deployed.stderr, /warning/, 'every key is understood');
      const status = await cli(['status', '-a', 'example-site', '--json']);
      const machines = (JSON.parse(status.stdout) as { machines: { checks: { status: string }[]; state: string }[] }).machines;
      assert.equal(machines.length, 1);
      assert.deepEqual(machines[0]!.checks.map((c) => c.status), ['passing']);
      const plain = await request(`${p.endpoints.proxy}/`, { headers: { host: 'example-site.aloft.localhost' } });
      await plain.body.dump();
      assert.equal(plain.statusCode, 301, 'force_https redirects plain HTTP');
      assert.match(String(plain.headers.location), /^https:\/\/example-site\.aloft\.localhost/);
      const tls = new URL(p.endpoints.tls!);
      const dispatcher = new Agent({ connect: { ca: await readFile(p.endpoints.ca_cert!, 'utf8'), servername: 'example-site.aloft.localhost' } });
      try {
        const secure = await request(`https://127.0.0.1:${tls.port}/`, { headers: { host: 'example-site.aloft.localhost' }, dispatcher });
        assert.equal(secure.statusCode, 200);
        assert.match(await secure.body.text(), /Hello from Aloft/);
      } finally {
        await dispatcher.close();
      }
    } finally {
      await cli(['apps', 'destroy', 'example-site', '--yes']).catch(() => undefined);
      await rm(site, { recursive: true, force: true });
    }
  });

  it('a directory with nothing to launch says what is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'aloft-empty-'));
    try {
      const r = await cli(['launch', empty, '--yes']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /no Dockerfile and is not a Node\.js app/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
