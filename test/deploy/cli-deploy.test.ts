/**
 * `aloft deploy` and `aloft releases` through the CLI: a config file deploys, a change deploys
 * as a new release, a crashing release is rolled back with the exit code and log lines and
 * recorded as failed, a rollback returns to an earlier release, and a bad config names its line;
 * each strategy as its machines show it, an earlier image deployed again, a staged secret
 * applied by a deploy, no capacity as exit code 4, and [build] build-target and ignorefile.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import { ApiClient } from '../../src/cli/api-client.ts';
import type { Machine } from '../../src/lib/index.ts';
import { cliJson, runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { skipWithoutBuildTools } from '../helpers/root-prerequisites.ts';

const app = 'site';
const cannotBuild = await skipWithoutBuildTools();
let p: TestPlatform;
let dir: string;
const cli = (args: string[]) => runCli(['--data-dir', p.dataDir, ...args]);

interface Release {
  version: number;
  status: string;
  image: string;
  failure: { error: string; code: string } | null;
}

async function writeConfig(body: string, waitTimeout = '20s', image = 'site:v1'): Promise<void> {
  await writeFile(join(dir, 'fly.toml'), `app = '${app}'\n\n[build]\n  image = '${image}'\n\n[deploy]\n  wait_timeout = '${waitTimeout}'\n\n${body}`);
}

async function page(): Promise<string> {
  const res = await request(`${p.endpoints.proxy}/cgi-bin/env`, { headers: { host: `${app}.aloft.localhost` } });
  return `${res.statusCode} ${await res.body.text()}`;
}

/** Waits until every request through the proxy shows `text`. */
async function servedEverywhere(text: string): Promise<void> {
  await eventually(`every machine to serve ${text}`, async () => {
    for (let i = 0; i < 6; i++) if (!(await page()).includes(text)) return false;
    return true;
  });
}

async function liveMachines(): Promise<Machine[]> {
  return (await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app])).filter((m) => m.state !== 'destroyed' && m.state !== 'destroying');
}

/** The progress lines of a deploy's output, as `step subject` (e.g. `update 0123…`). */
function steps(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => /^\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => `${m![1]} ${m![2]}`);
}

before(async () => {
  p = await startTestPlatform();
  dir = await mkdtemp(join(tmpdir(), 'aloft-site-'));
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    // A CGI script that shows the greeting, so each release's env is visible through the proxy.
    await writeFile(
      join(rootfs, 'www', 'cgi-bin', 'env'),
      '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\ngreeting=%s\\nmotd=%s\\nstaged=%s\\nimage=%s\\n" "$GREETING" "$(cat /etc/motd 2>/dev/null)" "$STAGED_TOKEN" "$(cat /image 2>/dev/null)"\n',
      { mode: 0o755 },
    );
    // Two images that differ only in /image, for deploying an earlier one again.
    for (const tag of ['v1', 'v2']) {
      await writeFile(join(rootfs, 'image'), `site-${tag}`);
      const imported = await cli(['images', 'import', rootfs, '--tag', `site:${tag}`, '--cmd', '/bin/sh /start.sh', '--port', '8080']);
      assert.equal(imported.code, 0, imported.stderr);
    }
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  assert.equal((await cli(['apps', 'create', app])).code, 0);
});

after(async () => {
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
});

describe('aloft deploy', () => {
  it('deploys a fly.toml as release v1 and serves it', async () => {
    await writeConfig("[env]\n  GREETING = 'first'\n\n[http_service]\n  internal_port = 8080\n");
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /release v1 of site/);
    assert.match(deployed.stderr, /release v1 of site is live \(app: created\)/);
    assert.equal(await eventually('the proxy to serve v1', async () => ((await page()).includes('greeting=first') ? 'ok' : undefined)), 'ok');
  });

  it('deploys a change as v2 and the proxy serves the new config', async () => {
    await writeConfig("[env]\n  GREETING = 'second'\n\n[http_service]\n  internal_port = 8080\n");
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /app: updated/);
    assert.equal(await eventually('the proxy to serve v2', async () => ((await page()).includes('greeting=second') ? 'ok' : undefined)), 'ok');
  });

  it('a release that crashes is rolled back: exit 3, the exit code and its log lines, recorded as failed', async () => {
    await writeConfig(
      "[env]\n  GREETING = 'third'\n\n[processes]\n  app = \"/bin/sh -c 'echo fatal: cannot open /data/db >&2; exit 12'\"\n\n[http_service]\n  internal_port = 8080\n\n[[restart]]\n  policy = 'no'\n",
    );
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 3, deployed.stderr);
    assert.match(deployed.stderr, /exited with code 12/);
    assert.match(deployed.stderr, /fatal: cannot open \/data\/db/);
    assert.match(deployed.stderr, /rolled back 1 machine/);
    assert.match(deployed.stderr, /your app failed; deploy_app_crashed/);
    const releases = await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app]);
    assert.deepEqual(releases.map((r) => [r.version, r.status]), [[3, 'failed'], [2, 'complete'], [1, 'complete']]);
    assert.match(releases[0]!.failure!.error, /exited with code 12/);
    assert.equal(releases[0]!.failure!.code, 'deploy_app_crashed');
    assert.equal(await eventually('v2 still served', async () => ((await page()).includes('greeting=second') ? 'ok' : undefined)), 'ok');
  });

  it('a release whose health check fails is rolled back, naming the check and its output', async () => {
    const checked = (greeting: string, path: string) =>
      `[env]\n  GREETING = '${greeting}'\n\n[http_service]\n  internal_port = 8080\n\n  [[http_service.checks]]\n    grace_period = '0s'\n    interval = '1s'\n    timeout = '1s'\n    path = '${path}'\n`;
    await writeConfig(checked('healthy', '/cgi-bin/env'));
    const good = await cli(['deploy', dir]);
    assert.equal(good.code, 0, good.stderr);
    await writeConfig(checked('unhealthy', '/healthz'), '6s');
    const bad = await cli(['deploy', dir]);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stderr, /check 'servicecheck-00-http-8080' is critical after 6s: .*404/);
    assert.match(bad.stderr, /rolled back 1 machine/);
    assert.match(bad.stderr, /deploy_health_check_failed/);
    assert.equal(await eventually('the previous release served again', async () => ((await page()).includes('greeting=healthy') ? 'ok' : undefined)), 'ok');
  });

  it('releases rollback returns to an earlier release as a new one', async () => {
    const rolled = await cli(['releases', 'rollback', 'v1', '-a', app]);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stderr, /release v6 of site runs v1's image and config again/);
    assert.equal(await eventually('v1 served again', async () => ((await page()).includes('greeting=first') ? 'ok' : undefined)), 'ok');
    const machines = await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app]);
    assert.equal(machines.length, 1);
    assert.equal(machines[0]!.config.metadata.fly_release_version, '6');
  });

  it('status shows the machines with their release; scale count and scale vm change them', async () => {
    const status = await cli(['status', '-a', app]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /App site: 1 machine\n/);
    assert.match(status.stdout, /app .* dev .* started .* v6/);

    assert.equal((await cli(['scale', 'count', '3', '-a', app])).code, 0);
    let machines = await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app]);
    assert.equal(machines.filter((m) => m.state === 'started').length, 3);
    assert.ok(machines.every((m) => m.config.env.GREETING === 'first' && m.config.metadata.fly_release_version === '6'), 'new machines run the current release');

    const resized = await cli(['scale', 'vm', 'shared-cpu-2x', '-a', app]);
    assert.equal(resized.code, 0, resized.stderr);
    assert.equal((await cli(['scale', 'count', '1', '-a', app])).code, 0);
    machines = (await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app])).filter((m) => m.state !== 'destroyed' && m.state !== 'destroying');
    assert.equal(machines.length, 1);
    assert.deepEqual(machines[0]!.config.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
    // A deploy of a config without [[vm]] keeps the size scale vm set, as fly deploy does.
    await writeConfig("[env]\n  GREETING = 'resized'\n\n[http_service]\n  internal_port = 8080\n");
    const again = await cli(['deploy', dir]);
    assert.equal(again.code, 0, again.stderr);
    const kept = (await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app])).filter((m) => m.state === 'started');
    assert.deepEqual(kept.map((m) => m.config.guest), [{ cpu_kind: 'shared', cpus: 2, memory_mb: 512 }]);

    const none = await cli(['scale', 'count', '2', '-a', app, '--process-group', 'worker']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no machines in process group 'worker'.*\n.*its groups are: app/s);
  });

  it('a config with a wrong type fails before anything changes, naming file, line and key', async () => {
    await writeConfig("[http_service]\n  internal_port = 'eighty'\n");
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 2, deployed.stderr);
    assert.match(deployed.stderr, /fly\.toml:10: http_service\.internal_port: expected number/);
    const releases = await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app]);
    assert.equal(releases.length, 7, 'no release was started');
  });

  it('a directory without a config says how to make one', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'aloft-empty-'));
    try {
      const deployed = await cli(['deploy', empty, '-a', app]);
      assert.equal(deployed.code, 2);
      assert.match(deployed.stderr, /no aloft\.toml or fly\.toml/);
      assert.match(deployed.stderr, /aloft launch/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('an interrupted deploy blocks the next until it is aborted, and says so', async () => {
    const client = new ApiClient(p.endpoints);
    // As a deploy killed mid-way leaves it: a release begun and never finished.
    await client.call('POST', `/v1/apps/${app}/releases`, { image: 'x', strategy: 'rolling', config: {}, description: 'killed' });
    await writeConfig("[env]\n  GREETING = 'after-abort'\n\n[http_service]\n  internal_port = 8080\n");
    const blocked = await cli(['deploy', dir]);
    assert.equal(blocked.code, 2, blocked.stderr);
    assert.match(blocked.stderr, /still being deployed/);
    assert.match(blocked.stderr, /aloft releases abort/);
    const aborted = await cli(['releases', 'abort', '-a', app]);
    assert.equal(aborted.code, 0, aborted.stderr);
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const releases = await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app]);
    assert.equal(releases[1]!.status, 'failed');
    assert.equal(releases[1]!.failure!.code, 'deploy_aborted');
    assert.equal(releases[0]!.status, 'complete');
  });

  it('a CLI that knows only the API deploys too; local files ride along; mounts warn', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'aloft-nofile-'));
    try {
      await writeFile(join(dir, 'motd.txt'), 'welcome aboard');
      await writeConfig("[env]\n  GREETING = 'api-only'\n\n[http_service]\n  internal_port = 8080\n\n[[files]]\n  guest_path = '/etc/motd'\n  local_path = 'motd.txt'\n\n[mounts]\n  source = 'data'\n  destination = '/data'\n");
      // No endpoints.json here: the API's URL and a token are all this CLI has.
      const deployed = await runCli(['--data-dir', elsewhere, '--api-url', p.endpoints.api, '--access-token', p.endpoints.token, 'deploy', dir]);
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.match(deployed.stderr, /warning: \[mounts\] data → \/data is valid, but volumes are not available yet/);
      const text = await eventually('the new release served', async () => {
        const t = await page();
        return t.includes('greeting=api-only') ? t : undefined;
      });
      assert.match(text, /motd=welcome aboard/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('a secret set with --stage reaches the machines at the next deploy, though the config is unchanged', async () => {
    const staged = await cli(['secrets', 'set', 'STAGED_TOKEN=staged-42', '--stage', '-a', app]);
    assert.equal(staged.code, 0, staged.stderr);
    assert.match(await page(), /staged=\n/, 'staged: not applied yet');
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /app: updated/);
    await servedEverywhere('staged=staged-42');
    const machines = await liveMachines();
    assert.ok(machines.every((m) => m.secrets_version >= 1));
  });

  it('--strategy immediate updates every machine at once, then waits for them', async () => {
    assert.equal((await cli(['scale', 'count', '2', '-a', app])).code, 0);
    const before = await liveMachines();
    assert.equal(before.length, 2);
    await writeConfig("[env]\n  GREETING = 'immediate'\n\n[http_service]\n  internal_port = 8080\n");
    const deployed = await cli(['deploy', dir, '--strategy', 'immediate']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /release v\d+ of site: .*site:v1 \(immediate\)/);
    const log = steps(deployed.stderr);
    const firstHealthy = log.findIndex((l) => l.startsWith('healthy'));
    for (const m of before) {
      const updated = log.indexOf(`update updating ${m.id}`);
      assert.ok(updated >= 0 && updated < firstHealthy, `${m.id} updated before any machine was healthy:\n${log.join('\n')}`);
    }
    const after = await liveMachines();
    assert.deepEqual(after.map((m) => m.id).sort(), before.map((m) => m.id).sort(), 'updated in place');
    await servedEverywhere('greeting=immediate');
  });

  it('--strategy canary starts one extra machine, and only once it is healthy updates the others', async () => {
    const before = await liveMachines();
    await writeConfig("[env]\n  GREETING = 'canary'\n\n[http_service]\n  internal_port = 8080\n");
    const deployed = await cli(['deploy', dir, '--strategy', 'canary']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const log = steps(deployed.stderr);
    const created = log.find((l) => l.startsWith('create '));
    const canaryId = /created (\S+)/.exec(created ?? '')?.[1];
    assert.ok(canaryId !== undefined && !before.some((m) => m.id === canaryId), `a new machine first:\n${log.join('\n')}`);
    const proven = log.indexOf('canary canary healthy; updating the rest');
    assert.ok(log.indexOf(`healthy ${canaryId} healthy`) < proven);
    for (const m of before) assert.ok(log.indexOf(`update updating ${m.id}`) > proven, `${m.id} updated after the canary proved healthy`);
    await eventually('the canary gone', async () => (await liveMachines()).every((m) => m.id !== canaryId));
    assert.deepEqual((await liveMachines()).map((m) => m.id).sort(), before.map((m) => m.id).sort());
    await servedEverywhere('greeting=canary');
  });

  it('--strategy bluegreen starts a new set, and destroys the old one only after all of it is healthy', async () => {
    const before = await liveMachines();
    await writeConfig("[env]\n  GREETING = 'green'\n\n[http_service]\n  internal_port = 8080\n\n  [[http_service.checks]]\n    grace_period = '0s'\n    interval = '1s'\n    timeout = '1s'\n    path = '/cgi-bin/env'\n");
    const deployed = await cli(['deploy', dir, '--strategy', 'bluegreen']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const log = steps(deployed.stderr);
    const green = log.filter((l) => l.startsWith('create ')).map((l) => /created (\S+)/.exec(l)![1]!);
    assert.equal(green.length, 2);
    const moved = log.findIndex((l) => l.startsWith('bluegreen new machines healthy and routed'));
    for (const id of green) assert.ok(log.indexOf(`healthy ${id} healthy`) < moved, `${id} healthy before the traffic moved:\n${log.join('\n')}`);
    const after = await liveMachines();
    assert.deepEqual(after.map((m) => m.id).sort(), [...green].sort(), 'only the new set is left');
    assert.ok(after.every((m) => !m.cordoned && m.config.env.GREETING === 'green'));
    assert.ok(before.every((m) => !after.some((a) => a.id === m.id)));
    await servedEverywhere('greeting=green');
  });

  it('deploy --image with an earlier release\'s image returns to it', async () => {
    await writeConfig("[env]\n  GREETING = 'images'\n\n[http_service]\n  internal_port = 8080\n", '20s', 'site:v2');
    const v2 = await cli(['deploy', dir]);
    assert.equal(v2.code, 0, v2.stderr);
    await servedEverywhere('image=site-v2');
    const releases = await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app]);
    const previous = releases.find((r) => r.status === 'complete' && r.image.endsWith('/personal/site:v1'))!.image;
    const back = await cli(['deploy', dir, '--image', previous]);
    assert.equal(back.code, 0, back.stderr);
    await servedEverywhere('image=site-v1');
    const now = await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app]);
    assert.equal(now[0]!.image, previous);
    assert.equal(now[0]!.status, 'complete');
  });

  it('releases rollback without a version returns to the complete release before the newest', async () => {
    const releases = (await cliJson<Release[]>(['--data-dir', p.dataDir, 'releases', '-a', app])).filter((r) => r.status === 'complete');
    const rolled = await cli(['releases', 'rollback', '-a', app]);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stderr, new RegExp(`runs v${releases[1]!.version}'s image and config again`));
    await servedEverywhere('image=site-v2');
  });

  it('a release no host can take fails with exit code 4, naming the host and why, and changes nothing', async () => {
    const before = await liveMachines();
    await writeConfig("[env]\n  GREETING = 'huge'\n\n[http_service]\n  internal_port = 8080\n\n[[vm]]\n  size = 'performance-16x'\n  memory = 65536\n", '20s', 'site:v2');
    const deployed = await cli(['deploy', dir]);
    assert.equal(deployed.code, 4, deployed.stderr);
    assert.match(deployed.stderr, /host host-1 has \d+ MB of memory free, 65536 MB asked|host host-1 has \d+ CPUs free, 16 asked/);
    assert.match(deployed.stderr, /no capacity|deploy_capacity/);
    const after = await liveMachines();
    assert.deepEqual(after.map((m) => `${m.id}/${m.instance_id}`).sort(), before.map((m) => `${m.id}/${m.instance_id}`).sort());
  });

  it('[build] build-target picks the Dockerfile stage and ignorefile keeps files out of the build', { skip: cannotBuild }, async () => {
    const source = await mkdtemp(join(tmpdir(), 'aloft-site-build-'));
    const served = async (path: string): Promise<string> => {
      const res = await request(`${p.endpoints.proxy}${path}`, { headers: { host: `${app}.aloft.localhost` } });
      return `${res.statusCode} ${(await res.body.text()).trim()}`;
    };
    try {
      await writeFile(join(source, 'Dockerfile'), 'FROM site:v1 AS chosen\nCOPY . /www/ctx/\n\nFROM site:v1 AS last\nCOPY last.txt /www/ctx/stage.txt\n');
      await writeFile(join(source, 'stage.txt'), 'chosen');
      await writeFile(join(source, 'last.txt'), 'last');
      await writeFile(join(source, 'secret.txt'), 'kept out');
      await writeFile(join(source, 'build.ignore'), 'secret.txt\n');
      await writeFile(join(source, 'fly.toml'), `app = '${app}'\n\n[build]\n  build-target = 'chosen'\n  ignorefile = 'build.ignore'\n\n[deploy]\n  wait_timeout = '20s'\n\n[http_service]\n  internal_port = 8080\n`);
      const deployed = await cli(['deploy', source]);
      assert.equal(deployed.code, 0, deployed.stderr);
      assert.equal(await eventually('the built stage served', async () => ((await served('/ctx/stage.txt')) === '200 chosen' ? 'ok' : undefined)), 'ok');
      assert.match(await served('/ctx/secret.txt'), /^404/);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});
