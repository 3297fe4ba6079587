import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AppConfigError, appConfigSchema, findAppConfigFile, loadAppConfig, machineConfigFor, parseAppConfig, processGroups } from '../../src/deploy/index.ts';
import { machineConfigSchema, parseOrThrow } from '../../src/lib/index.ts';

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
