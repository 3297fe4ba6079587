import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AppConfigError, appConfigSchema, findAppConfigFile, loadAppConfig, machineConfigFor, parseAppConfig, processGroups } from '../../src/deploy/index.ts';
import { durationToMs, machineConfigSchema, parseOrThrow } from '../../src/lib/index.ts';

/** The shape `fly launch` writes for a Node.js app, with a worker group and a volume added. */
const flyToml = `# fly.toml app configuration file generated for bookshelf
app = 'bookshelf'
primary_region = 'ams'
kill_signal = 'SIGINT'
kill_timeout = '5s'

[build]
  dockerfile = 'Dockerfile'
  [build.args]
    NODE_VERSION = '24'

[deploy]
  release_command = 'node migrate.js'
  strategy = 'canary'

[env]
  PORT = '8080'
  LOG_LEVEL = 'info'
  WORKERS = 4

[processes]
  app = 'node server.js'
  worker = "node worker.js --queue 'default jobs'"

[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = 'stop'
  auto_start_machines = true
  min_machines_running = 1
  processes = ['app']

  [http_service.concurrency]
    type = 'requests'
    soft_limit = 200
    hard_limit = 250

  [[http_service.checks]]
    grace_period = '10s'
    interval = '30s'
    method = 'GET'
    timeout = '5s'
    path = '/healthz'

[[services]]
  protocol = 'tcp'
  internal_port = 9000
  processes = ['worker']

  [[services.ports]]
    port = 9000

  [[services.tcp_checks]]
    interval = '15s'
    timeout = '2s'

[checks.metrics]
  type = 'http'
  port = 9091
  path = '/metrics'
  processes = ['worker']

[mounts]
  source = 'data'
  destination = '/data'

[[vm]]
  memory = '1gb'
  cpu_kind = 'shared'
  cpus = 2
`;

test('a fly.toml in the shape fly launch writes parses as-is and expands per process group', () => {
  const { config, warnings } = parseAppConfig(flyToml, 'fly.toml');
  assert.deepEqual(warnings, []);
  assert.equal(config.app, 'bookshelf');
  assert.equal(config.deploy.strategy, 'canary');
  assert.equal(config.deploy.release_command, 'node migrate.js');
  assert.deepEqual(config.env, { PORT: '8080', LOG_LEVEL: 'info', WORKERS: '4' }, 'numbers in [env] become strings');
  assert.deepEqual(config.build?.args, { NODE_VERSION: '24' });
  assert.deepEqual(config.mounts, [{ source: 'data', destination: '/data' }], 'a single [mounts] table is a list of one');
  assert.deepEqual(processGroups(config), ['app', 'worker']);

  const app = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'app', 'registry.local/personal/bookshelf:v1', { id: 'rel_1', version: 3 }), 'config');
  assert.deepEqual(app.init.cmd, ['node', 'server.js']);
  assert.deepEqual(app.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 1024 });
  assert.equal(app.metadata.fly_process_group, 'app');
  assert.equal(app.metadata.fly_release_version, '3');
  assert.equal(app.env.PRIMARY_REGION, 'ams');
  assert.equal(app.services.length, 1, 'the worker-only service is not on app machines');
  const http = app.services[0]!;
  assert.equal(http.internal_port, 8080);
  assert.deepEqual(http.ports.map((p) => [p.port, p.handlers, p.force_https]), [[80, ['http'], true], [443, ['tls', 'http'], undefined]]);
  assert.equal(http.autostop, 'stop');
  assert.equal(http.autostart, true);
  assert.equal(http.min_machines_running, 1);
  assert.deepEqual(http.concurrency, { type: 'requests', soft_limit: 200, hard_limit: 250 });
  assert.deepEqual(http.checks?.map((c) => [c.type, c.port, c.path, c.interval]), [['http', 8080, '/healthz', '30s']]);
  assert.deepEqual(app.checks, {}, 'the metrics check belongs to the worker group');
  assert.deepEqual(app.stop_config, { signal: 'SIGINT', timeout: '5s' });

  const worker = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'worker', 'registry.local/personal/bookshelf:v1'), 'config');
  assert.deepEqual(worker.init.cmd, ['node', 'worker.js', '--queue', 'default jobs'], 'quoted words stay one argument');
  assert.deepEqual(worker.services.map((s) => s.internal_port), [9000]);
  assert.deepEqual(worker.services[0]!.checks?.map((c) => [c.type, c.port]), [['tcp', 9000]]);
  assert.deepEqual(Object.keys(worker.checks), ['metrics']);
});

test('an app without [processes] has one group and defaults to a small shared machine', () => {
  const { config } = parseAppConfig("app = 'tiny'\n[http_service]\n", 'aloft.toml');
  assert.deepEqual(processGroups(config), ['app']);
  const machine = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'app', 'img:1'), 'config');
  assert.equal(machine.init.cmd, undefined, 'the image decides what runs');
  assert.deepEqual(machine.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
  assert.equal(machine.services[0]!.internal_port, 8080, 'internal_port defaults to 8080 as on Fly');
});

test('a preset vm size sets cpus and memory, and explicit memory overrides it', () => {
  const { config } = parseAppConfig("app = 'sized'\n[[vm]]\nsize = 'performance-2x'\nmemory = 6144\n", 'fly.toml');
  assert.deepEqual(machineConfigFor(config, 'app', 'img:1').guest, { cpu_kind: 'performance', cpus: 2, memory_mb: 6144 });
});

function configError(source: string, file = 'fly.toml'): AppConfigError {
  try {
    parseAppConfig(source, file);
  } catch (err) {
    assert.ok(err instanceof AppConfigError, `expected AppConfigError, got ${String(err)}`);
    assert.equal(err.fault, 'config');
    return err;
  }
  assert.fail('the config was accepted');
}

test('a wrong type fails with the file, the line and the key', () => {
  const err = configError("app = 'shop'\n\n[http_service]\n  force_https = true\n  internal_port = '8080'\n");
  assert.match(err.message, /^fly\.toml:5: http_service\.internal_port: expected number, got string "8080"/);
  assert.equal(err.details.line, 5);
  assert.equal(err.details.key, 'http_service.internal_port');
});

test('errors inside arrays of tables point at the right entry', () => {
  const source = [
    "app = 'shop'",
    '[[services]]',
    '  internal_port = 8080',
    '  [[services.ports]]',
    '    port = 80',
    '[[services]]',
    '  internal_port = 9000',
    '  [[services.ports]]',
    '    port = 443',
    '  [[services.ports]]',
    "    port = 'many'",
  ].join('\n');
  const err = configError(source);
  assert.equal(err.details.key, 'services[1].ports[1].port');
  assert.equal(err.details.line, 11);
});

test('every wrong key is listed at once', () => {
  const err = configError("app = 'Shop_1'\n[deploy]\nstrategy = 'yolo'\n[[vm]]\nsize = 'huge-9x'\n");
  const problems = err.details.problems as string[];
  assert.equal(problems.length, 3);
  assert.match(problems[0]!, /fly\.toml:1: app: lowercase letters/);
  assert.match(problems[1]!, /fly\.toml:3: deploy\.strategy: .*rolling/);
  assert.match(problems[2]!, /fly\.toml:5: vm\[0\]\.size: one of shared-cpu-1x/);
});

test('a process command with shell syntax is refused with a way to write it', () => {
  const err = configError("app = 'jobs'\n[processes]\n  web = 'node a.js && node b.js'\n");
  assert.match(err.message, /fly\.toml:3: processes\.web: .*run without a shell.*sh -c/);
});

test('unknown keys warn with their line and are ignored; the rest still applies', () => {
  const { config, warnings } = parseAppConfig("app = 'shop'\nswap_size = 512\n\n[http_service]\n  internal_port = 3000\n  auto_rollback = true\n", 'fly.toml');
  assert.deepEqual(
    warnings.map((w) => [w.key, w.line]),
    [
      ['swap_size', 2],
      ['http_service.auto_rollback', 6],
    ],
  );
  assert.match(warnings[1]!.message, /fly\.toml:6: unknown key 'http_service\.auto_rollback' is ignored/);
  assert.equal(config.http_service?.internal_port, 3000);
});

test('a TOML syntax error names the line and column', () => {
  const err = configError("app = 'shop'\n[http_service\ninternal_port = 8080\n", 'aloft.toml');
  assert.match(err.message, /^aloft\.toml:2:\d+: not valid TOML/);
  assert.equal(err.details.line, 2);
});

test('aloft.toml is preferred over fly.toml, and a missing file says how to make one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-appconfig-'));
  try {
    assert.equal(await findAppConfigFile(dir), undefined);
    await writeFile(join(dir, 'fly.toml'), "app = 'from-fly'\n");
    assert.equal(await findAppConfigFile(dir), join(dir, 'fly.toml'));
    await writeFile(join(dir, 'aloft.toml'), "app = 'from-aloft'\n");
    const found = await findAppConfigFile(dir);
    assert.equal(found, join(dir, 'aloft.toml'));
    assert.equal((await loadAppConfig(found!)).config.app, 'from-aloft');
    await assert.rejects(loadAppConfig(join(dir, 'nope.toml')), (err: unknown) => err instanceof AppConfigError && /aloft launch/.test(err.hint ?? ''));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a parsed config parses again to itself, so a release stored as parsed can be rolled back to', () => {
  const { config } = parseAppConfig(flyToml, 'fly.toml');
  assert.deepEqual(appConfigSchema.parse(JSON.parse(JSON.stringify(config))), config);
});

test('an unknown key inside a single [mounts] table warns like any other', () => {
  const { config, warnings } = parseAppConfig("app = 'data'\n[mounts]\n  source = 'data'\n  destination = '/data'\n  snapshot_retention = 5\n", 'fly.toml');
  assert.deepEqual(warnings.map((w) => [w.key, w.line]), [['mounts.snapshot_retention', 5]]);
  assert.deepEqual(config.mounts, [{ source: 'data', destination: '/data' }]);
});

test('check durations given as bare numbers are milliseconds, as flyctl reads them', () => {
  const { config } = parseAppConfig(
    [
      "app = 'ms'",
      '[http_service]',
      '  [[http_service.checks]]',
      '    interval = 15000',
      '    timeout = 2000',
      '    grace_period = 5000',
      '[[services]]',
      '  internal_port = 9000',
      '  [[services.tcp_checks]]',
      '    interval = 500',
      '[checks.db]',
      "  type = 'tcp'",
      '  port = 5432',
      '  timeout = 750',
      '[deploy]',
      '  wait_timeout = 30',
    ].join('\n'),
    'fly.toml',
  );
  const machine = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'app', 'img:1'), 'config');
  const http = machine.services[0]!.checks![0]!;
  assert.deepEqual([http.interval, http.timeout, http.grace_period].map((d) => durationToMs(d, -1)), [15_000, 2_000, 5_000]);
  assert.equal(durationToMs(machine.services[1]!.checks![0]!.interval, -1), 500);
  assert.equal(durationToMs(machine.checks.db!.timeout, -1), 750);
  assert.equal(durationToMs(config.deploy.wait_timeout, -1), 30_000, 'other durations stay seconds');
  assert.deepEqual(appConfigSchema.parse(JSON.parse(JSON.stringify(config))), config, 'and parse again to themselves');
});

test('Go durations such as "1m30s" parse in the config and in the machine config', () => {
  const { config } = parseAppConfig("app = 'go'\nkill_timeout = '1m30s'\n[deploy]\n  wait_timeout = '2m30s'\n[http_service]\n  [[http_service.checks]]\n    interval = '1m30s'\n    timeout = '1.5s'\n", 'fly.toml');
  assert.equal(durationToMs(config.deploy.wait_timeout, -1), 150_000);
  const machine = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'app', 'img:1'), 'config');
  assert.equal(durationToMs(machine.stop_config?.timeout, -1), 90_000);
  assert.equal(durationToMs(machine.services[0]!.checks![0]!.interval, -1), 90_000);
  assert.equal(durationToMs(machine.services[0]!.checks![0]!.timeout, -1), 1_500);
  assert.equal(durationToMs('1h2m3s', -1), 3_723_000);
  assert.equal(durationToMs('0', -1), 0);
  assert.match(configError("app = 'go'\n[deploy]\n  wait_timeout = '90 seconds'\n").message, /fly\.toml:3: deploy\.wait_timeout: .*1m30s/);
  assert.match(configError("app = 'go'\n[[http_service.checks]]\n  interval = 'often'\n").message, /fly\.toml:3: http_service\.checks\[0\]\.interval: a duration such as/);
});

test('a single [vm] or [services] table is read like an array of one', () => {
  const { config } = parseAppConfig("app = 'single'\n[vm]\n  size = 'shared-cpu-2x'\n  memory = '1gb'\n[services]\n  internal_port = 9000\n  [[services.ports]]\n    port = 9000\n", 'fly.toml');
  const machine = parseOrThrow(machineConfigSchema, machineConfigFor(config, 'app', 'img:1'), 'config');
  assert.deepEqual(machine.guest, { cpu_kind: 'shared', cpus: 2, memory_mb: 1024 });
  assert.deepEqual(machine.services.map((s) => [s.internal_port, s.ports.map((p) => p.port)]), [[9000, [9000]]]);
});

test('memory is read as flyctl reads it: a bare number or string is megabytes, units are binary', () => {
  const guest = (memory: string) => machineConfigFor(parseAppConfig(`app = 'mem'\n[[vm]]\n  memory = ${memory}\n`, 'fly.toml').config, 'app', 'img:1').guest;
  assert.equal(guest('"2048"')?.memory_mb, 2048);
  assert.equal(guest('"2gb"')?.memory_mb, 2048);
  assert.equal(guest('"1GiB"')?.memory_mb, 1024);
  assert.equal(guest("'512 MB'")?.memory_mb, 512);
  assert.equal(guest('768')?.memory_mb, 768);
  assert.match(configError("app = 'mem'\n[[vm]]\n  memory = 'lots'\n").message, /fly\.toml:3: vm\[0\]\.memory: a size such as/);
  assert.match(configError("app = 'mem'\n[vm]\n  memory = '100mb'\n").message, /fly\.toml:3: vm\.memory: at least 256 MB/);
  assert.match(configError("app = 'mem'\n[vm]\n  memory = true\n").message, /fly\.toml:3: vm\.memory: expected number or string, got boolean true/);
});

test('a wrong type inside a single [mounts] table names its key and line', () => {
  const err = configError("app = 'data'\n[mounts]\n  source = 'data'\n  destination = 5\n");
  assert.match(err.message, /^fly\.toml:4: mounts\.destination: expected string, got number 5/);
  assert.equal(err.details.key, 'mounts.destination');
});

test('processes = [...] naming a group the app does not have is an error naming the key and the group', () => {
  const err = configError("app = 'jobs'\n[processes]\n  app = 'node a.js'\n  worker = 'node w.js'\n[http_service]\n  processes = ['web']\n[vm]\n  processes = ['app', 'wrker']\n");
  const problems = err.details.problems as string[];
  assert.match(problems[0]!, /^fly\.toml:6: http_service\.processes\[0\]: no process group 'web': \[processes\] defines app, worker/);
  assert.match(problems[1]!, /^fly\.toml:8: vm\.processes\[1\]: no process group 'wrker'/);
  assert.match(configError("app = 'one'\n[[restart]]\n  policy = 'no'\n  processes = ['worker']\n").message, /restart\[0\]\.processes\[0\]: no process group 'worker': without \[processes\] the app has one group, 'app'/);
});

test('keys accepted but not acted on say so, with their line', () => {
  const { warnings } = parseAppConfig("app = 'fly'\nswap_size_mb = 512\nconsole_command = '/bin/bash'\n[build]\n  builder = 'paketobuildpacks/builder:base'\n  buildpacks = ['gcr.io/paketo-buildpacks/nodejs']\n", 'fly.toml');
  assert.deepEqual(
    warnings.map((w) => [w.key, w.line]),
    [
      ['swap_size_mb', 2],
      ['console_command', 3],
      ['build.builder', 5],
      ['build.buildpacks', 6],
    ],
  );
  assert.match(warnings[0]!.message, /fly\.toml:2: 'swap_size_mb' is ignored: machines get no swap/);
  assert.match(warnings[2]!.message, /'build\.builder' is ignored: .*not buildpacks/);
});
