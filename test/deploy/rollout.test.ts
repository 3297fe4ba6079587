/**
 * Rollouts against a real platform (agent, runc, proxy): rolling batches, unchanged machines
 * left alone, a crashing release rolled back with its exit code and log lines, a failing
 * release command that changes nothing, canary and immediate, and process groups coming and
 * going.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import { ApiClient } from '../../src/cli/api-client.ts';
import { apiDeployTarget } from '../../src/cli/deploy-target.ts';
import { DeployError, machineConfigFor, parseAppConfig, rollout, type AppConfig, type DeployTarget } from '../../src/deploy/index.ts';
import type { Machine } from '../../src/lib/index.ts';
import { runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const app = 'rollout';
let p: TestPlatform;
let client: ApiClient;
let target: DeployTarget;
let image: string;
let releaseVersion = 0;

/** Every config of this file waits 20 s for health, so a failure is reported in test time. */
function config(toml: string): AppConfig {
  const withTimeout = toml.includes('[deploy]\n') ? toml.replace('[deploy]\n', "[deploy]\nwait_timeout = '20s'\n") : `${toml}[deploy]\nwait_timeout = '20s'\n`;
  return parseAppConfig(`app = '${app}'\n${withTimeout}`, 'aloft.toml').config;
}

const served = (greeting: string) => `[env]\nGREETING = '${greeting}'\n[http_service]\ninternal_port = 8080\n`;

async function deploy(appConfig: AppConfig, steps: string[] = [], via: DeployTarget = target) {
  releaseVersion++;
  return rollout({
    target: via,
    app,
    config: appConfig,
    image,
    release: { id: `rel_${releaseVersion}`, version: releaseVersion },
    defaultRegion: 'dev',
    progress: (e) => steps.push(`${e.step}${e.machine === undefined ? '' : ` ${e.machine}`}`),
  });
}

/** The app's machines, less those destroyed or being destroyed (destroys finish in the background). */
async function machines(): Promise<Machine[]> {
  return (await client.listMachines(app)).filter((m) => m.state !== 'destroyed' && m.state !== 'destroying');
}

before(async () => {
  p = await startTestPlatform();
  client = new ApiClient(p.endpoints);
  target = apiDeployTarget(client);
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    // A command, not an entrypoint: process groups replace it, as on Fly.
    const imported = await runCli(['--data-dir', p.dataDir, 'images', 'import', rootfs, '--tag', 'rollout:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  image = `${new URL(p.endpoints.registry).host}/personal/rollout:v1`;
  assert.equal((await runCli(['--data-dir', p.dataDir, 'apps', 'create', app])).code, 0);
});

after(async () => {
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('rollouts on one host', () => {
  it('a first deploy creates the group\'s machine; more are added beside it', async () => {
    const outcome = await deploy(config(served('v1')));
    assert.deepEqual(outcome.map((o) => [o.group, o.action, o.machines.length]), [['app', 'created', 1]]);
    const extra = machineConfigFor(config(served('v1')), 'app', image, { id: 'rel_1', version: 1 });
    await Promise.all([client.createMachine(app, { config: extra }), client.createMachine(app, { config: extra })]);
    await eventually('three started machines', async () => (await machines()).filter((m) => m.state === 'started').length === 3);
  });

  it('rolling updates one machine at a time, each healthy before the next', async () => {
    const before = await machines();
    const steps: string[] = [];
    const outcome = await deploy(config(`${served('v2')}[deploy]\nmax_unavailable = 1\n`), steps);
    assert.equal(outcome[0]!.action, 'updated');
    const updates = steps.filter((s) => s.startsWith('update') || s.startsWith('healthy'));
    assert.equal(updates.length, 6);
    for (let i = 0; i < 6; i += 2) {
      assert.equal(updates[i]!.split(' ')[0], 'update');
      assert.equal(updates[i + 1], updates[i]!.replace('update', 'healthy'), 'each machine is healthy before the next is touched');
    }
    const after = await machines();
    assert.equal(after.length, 3);
    for (const m of after) {
      assert.equal(m.config.env.GREETING, 'v2');
      assert.notEqual(m.instance_id, before.find((b) => b.id === m.id)!.instance_id, 'a new instance runs');
    }
  });

  it('a deploy of the same config leaves every machine alone', async () => {
    const before = await machines();
    const outcome = await deploy(config(`${served('v2')}[deploy]\nmax_unavailable = 1\n`));
    assert.equal(outcome[0]!.action, 'unchanged');
    assert.deepEqual((await machines()).map((m) => m.instance_id).sort(), before.map((m) => m.instance_id).sort());
  });

  it('a release that crashes on start is rolled back, naming the exit code and its last log lines', async () => {
    const before = await machines();
    const crashing = config(`${served('v3')}[deploy]\nmax_unavailable = 1\n[processes]\napp = "/bin/sh -c 'echo boom: no DATABASE_URL >&2; exit 7'"\n[[restart]]\npolicy = 'no'\n`);
    await assert.rejects(deploy(crashing), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'app_crashed');
      assert.equal(err.fault, 'app');
      assert.match(err.message, /exited with code 7/);
      assert.match(err.message, /rolled back 1 machine/);
      assert.ok((err.details.log_tail as string[]).some((l) => l.includes('boom: no DATABASE_URL')), JSON.stringify(err.details));
      return true;
    });
    await eventually('every machine on v2 and started again', async () => {
      const now = await machines();
      return now.length === 3 && now.every((m) => m.state === 'started' && m.config.env.GREETING === 'v2');
    });
    const untouched = (await machines()).filter((m) => before.find((b) => b.id === m.id)!.instance_id === m.instance_id);
    assert.equal(untouched.length, 2, 'the rollout stopped at the first machine');
  });

  it('a release that fails on a later batch rolls the already-updated, healthy machines back', async () => {
    const before = await machines();
    assert.equal(before.length, 3);
    // Listed (and so updated) oldest first: the last machine is the one the release cannot run on.
    const doomed = before.at(-1)!.id;
    const steps: string[] = [];
    const failsOnLast = config(`${served('v3')}[deploy]\nmax_unavailable = 1\n[processes]\napp = "/bin/sh -c 'if [ \\"$FLY_MACHINE_ID\\" = ${doomed} ]; then echo only-here >&2; exit 9; fi; exec /bin/sh /start.sh'"\n[[restart]]\npolicy = 'no'\n`);
    await assert.rejects(deploy(failsOnLast, steps), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'app_crashed');
      assert.match(err.message, /exited with code 9/);
      assert.match(err.message, /rolled back 3 machines to the previous release/);
      return true;
    });
    const healthyFirst = before.slice(0, 2).map((m) => `healthy ${m.id}`);
    assert.ok(healthyFirst.every((s) => steps.includes(s)), `the first two were updated and healthy before the failure: ${steps.join(', ')}`);
    const now = await machines();
    assert.deepEqual(now.map((m) => m.id), before.map((m) => m.id));
    for (const m of now) {
      const was = before.find((b) => b.id === m.id)!;
      assert.equal(m.state, 'started');
      assert.equal(m.config.image, was.config.image);
      assert.deepEqual(m.config.init, was.config.init, `${m.id} runs the previous command again`);
      assert.deepEqual(m.config.env, was.config.env);
      assert.equal(m.config.metadata.fly_release_version, was.config.metadata.fly_release_version);
      assert.notEqual(m.instance_id, was.instance_id, `${m.id} was changed, then rolled back`);
    }
  });

  it('a failing release command stops the deploy before any machine changes', async () => {
    const before = await machines();
    const failing = config(`${served('v3')}[deploy]\nrelease_command = "echo migrating; exit 3"\n`);
    await assert.rejects(deploy(failing), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'release_command_failed');
      assert.equal(err.details.exit_code, 3);
      assert.ok((err.details.log_tail as string[]).some((l) => l.includes('migrating')), JSON.stringify(err.details));
      return true;
    });
    const now = await machines();
    assert.deepEqual(now.map((m) => m.instance_id).sort(), before.map((m) => m.instance_id).sort());
    assert.ok(now.every((m) => m.config.metadata.fly_process_group === 'app'), 'the release command machine is gone');
  });

  it('canary starts one extra machine first, then updates the rest; immediate updates all at once', async () => {
    const steps: string[] = [];
    await deploy(config(`${served('v4')}[deploy]\nstrategy = 'canary'\nrelease_command = "echo migrated"\n`), steps);
    assert.ok(steps.indexOf('canary') < steps.findIndex((s) => s.startsWith('update')), steps.join(', '));
    let now = await machines();
    assert.equal(now.length, 3, 'the canary is destroyed once it proved healthy');
    assert.ok(now.every((m) => m.config.env.GREETING === 'v4'));

    await deploy(config(`${served('v5')}[deploy]\nstrategy = 'immediate'\n`));
    now = await machines();
    assert.ok(now.every((m) => m.config.env.GREETING === 'v5'));
  });

  it('a canary whose destroy failed is destroyed by the rollback of a later failure', async () => {
    const before = await machines();
    const doomed = before[0]!.id;
    const steps: string[] = [];
    // The platform refuses the canary's first destroy (its host busy, say): it must not outlive the rollback.
    let refused = 0;
    const flaky: DeployTarget = {
      ...target,
      destroyMachine: async (a, id) => {
        if (refused === 0 && !before.some((m) => m.id === id)) {
          refused += 1;
          throw new Error('host busy');
        }
        return target.destroyMachine(a, id);
      },
    };
    const canaryThenCrash = config(`${served('v6')}[deploy]\nstrategy = 'canary'\n[processes]\napp = "/bin/sh -c 'if [ \\"$FLY_MACHINE_ID\\" = ${doomed} ]; then exit 9; fi; exec /bin/sh /start.sh'"\n[[restart]]\npolicy = 'no'\n`);
    await assert.rejects(deploy(canaryThenCrash, steps, flaky), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.match(err.message, /exited with code 9/);
      assert.match(err.message, /destroyed 1 new machine/);
      return true;
    });
    assert.equal(refused, 1, `the canary's destroy was refused once: ${steps.join(', ')}`);
    await eventually('only the machines from before the deploy', async () => ((await machines()).map((m) => m.id).sort().join() === before.map((m) => m.id).sort().join() ? true : undefined));
  });

  it('bluegreen starts a new set out of routing, moves traffic once all are healthy, then destroys the old set', async () => {
    const checked = (greeting: string, path: string, wait = '20s') =>
      parseAppConfig(
        `app = '${app}'\n[env]\nGREETING = '${greeting}'\n[http_service]\ninternal_port = 8080\n[[http_service.checks]]\ngrace_period = '0s'\ninterval = '1s'\ntimeout = '1s'\npath = '${path}'\n[deploy]\nstrategy = 'bluegreen'\nwait_timeout = '${wait}'\n`,
        'aloft.toml',
      ).config;
    const blue = await machines();
    await deploy(checked('green', '/'));
    const green = await machines();
    assert.equal(green.length, blue.length);
    assert.ok(green.every((m) => !blue.some((b) => b.id === m.id)), 'every machine is new');
    assert.ok(green.every((m) => !m.cordoned && m.config.env.GREETING === 'green'));

    await assert.rejects(deploy(checked('broken', '/missing', '5s')), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'health_check_failed');
      assert.match(err.message, /404/);
      return true;
    });
    await eventually('only the green set left', async () => {
      const now = await machines();
      return now.length === green.length && now.every((m) => green.some((g) => g.id === m.id) && !m.cordoned);
    });
  });

  it('a cordoned machine gets no traffic until uncordoned, and keeps running', async () => {
    const [first, ...others] = await machines();
    assert.ok(others.length > 0);
    await target.cordon(app, first!.id);
    const servedBy = async (): Promise<Set<string>> => {
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const res = await request(`${p.endpoints.proxy}/`, { headers: { host: `${app}.aloft.localhost` } });
        await res.body.dump();
        seen.add(String(res.headers['aloft-machine']));
      }
      return seen;
    };
    await eventually('the cordon to reach the proxy', async () => !(await servedBy()).has(first!.id));
    assert.equal((await client.getMachine(app, first!.id)).state, 'started');
    assert.equal((await client.getMachine(app, first!.id)).cordoned, true);
    await target.uncordon(app, first!.id);
    await eventually('traffic back on the uncordoned machine', async () => (await servedBy()).has(first!.id));
  });

  it('a release too big for any host fails as a capacity problem, saying where and why, and changes nothing', async () => {
    const before = await machines();
    await assert.rejects(deploy(config(`${served('huge')}[[vm]]\nsize = 'performance-16x'\nmemory = 65536\n`)), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'capacity');
      assert.equal(err.fault, 'capacity');
      assert.match(err.message, /host-1/);
      assert.match(err.message, /memory|cpu/);
      return true;
    });
    const after = await machines();
    assert.deepEqual(after.map((m) => `${m.id}/${m.instance_id}`).sort(), before.map((m) => `${m.id}/${m.instance_id}`).sort());
  });

  it('a bluegreen deploy without a health check is refused before anything starts', async () => {
    const before = await machines();
    await assert.rejects(deploy(config(`${served('nocheck')}[deploy]\nstrategy = 'bluegreen'\n`)), (err: unknown) => err instanceof DeployError && err.failure === 'config' && /need a health check/.test(err.message));
    assert.deepEqual((await machines()).map((m) => m.id).sort(), before.map((m) => m.id).sort());
  });

  it('process groups added to the config get machines; a group removed from it loses them', async () => {
    const outcome = await deploy(config(`[processes]\nweb = "/bin/sh /start.sh"\nworker = "/bin/sleep 3600"\n[http_service]\ninternal_port = 8080\nprocesses = ['web']\n`));
    assert.deepEqual(outcome.map((o) => [o.group, o.action]), [['web', 'created'], ['worker', 'created'], ['app', 'removed']]);
    const now = await machines();
    assert.deepEqual(now.map((m) => m.config.metadata.fly_process_group).sort(), ['web', 'worker']);
    const worker = now.find((m) => m.config.metadata.fly_process_group === 'worker')!;
    assert.deepEqual(worker.config.services, [], 'http_service applies to the web group only');
  });
});

describe('a deploy of several process groups', () => {
  const groupsConfig = (greeting: string, worker: string, extra = '') =>
    config(`[env]\nGREETING = '${greeting}'\n[processes]\nweb = "/bin/sh /start.sh"\nworker = "${worker}"\n${extra}[http_service]\ninternal_port = 8080\nprocesses = ['web']\n[[restart]]\npolicy = 'no'\n`);
  const byGroup = async (): Promise<Record<string, Machine>> => Object.fromEntries((await machines()).map((m) => [m.config.metadata.fly_process_group!, m]));

  it('a later group failing rolls back the groups already updated', async () => {
    await deploy(groupsConfig('groups-v1', '/bin/sleep 3600'));
    const before = await byGroup();
    const steps: string[] = [];
    await assert.rejects(deploy(groupsConfig('groups-v2', "/bin/sh -c 'echo worker broken >&2; exit 5'"), steps), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.equal(err.failure, 'app_crashed');
      assert.match(err.message, /exited with code 5/);
      assert.match(err.message, /rolled back 2 machines/);
      return true;
    });
    assert.ok(steps.includes(`healthy ${before.web!.id}`), `web was updated first: ${steps.join(', ')}`);
    const after = await byGroup();
    assert.deepEqual(Object.keys(after).sort(), ['web', 'worker']);
    for (const group of ['web', 'worker']) {
      assert.equal(after[group]!.id, before[group]!.id);
      assert.equal(after[group]!.state, 'started', `${group} runs again`);
      assert.equal(after[group]!.config.env.GREETING, 'groups-v1', `${group} is back on the previous release`);
      assert.equal(after[group]!.config.metadata.fly_release_version, before[group]!.config.metadata.fly_release_version);
    }
  });

  it("a new group's first machine failing rolls back the others and is destroyed", async () => {
    const before = await byGroup();
    await assert.rejects(deploy(groupsConfig('groups-v3', '/bin/sleep 3600', "zcron = \"/bin/sh -c 'exit 6'\"\n")), (err: unknown) => {
      assert.ok(err instanceof DeployError, String(err));
      assert.match(err.message, /exited with code 6/);
      assert.match(err.message, /rolled back 2 machines to the previous release, destroyed 1 new machine/);
      return true;
    });
    const after = await byGroup();
    assert.deepEqual(Object.keys(after).sort(), ['web', 'worker'], 'no zcron machine is left');
    assert.ok(Object.values(after).every((m) => m.state === 'started' && m.config.env.GREETING === 'groups-v1'));
  });
});
