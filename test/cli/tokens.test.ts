/**
 * The token commands as a user drives them: auth login (flag and stdin), whoami, the order in
 * which the token is found, tokens create/attenuate (offline)/list/revoke.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliJson, runCli } from '../helpers/cli.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

let p: TestPlatform;
let configDir: string;
let elsewhere: string;
const savedEnv = { ...process.env };

before(async () => {
  p = await startTestPlatform();
  configDir = await mkdtemp(join(tmpdir(), 'aloft-config-'));
  elsewhere = await mkdtemp(join(tmpdir(), 'aloft-nodata-'));
  process.env.ALOFT_CONFIG_DIR = configDir;
  delete process.env.ALOFT_API_URL;
  delete process.env.ALOFT_API_TOKEN;
  for (const app of ['tokcli', 'tokcli-other']) assert.equal((await runCli(['--data-dir', p.dataDir, 'apps', 'create', app])).code, 0);
});

after(async () => {
  process.env = savedEnv;
  await runCli(['--data-dir', p.dataDir, 'apps', 'destroy', 'tokcli', '--yes']);
  await runCli(['--data-dir', p.dataDir, 'apps', 'destroy', 'tokcli-other', '--yes']);
  await p.stop();
  for (const dir of [p.dataDir, configDir, elsewhere]) await rm(dir, { recursive: true, force: true });
});

interface Whoami {
  token_id: string;
  org: string;
  summary: string[];
}

describe('aloft auth and tokens', () => {
  let reader: { id: string; token: string };

  it('whoami reads the token aloft up wrote (an organization admin of personal)', async () => {
    const me = await cliJson<Whoami>(['--data-dir', p.dataDir, 'auth', 'whoami']);
    assert.equal(me.org, 'personal');
    assert.deepEqual(me.summary, ['organization personal']);
  });

  it('tokens create makes a narrowed token and shows it once', async () => {
    reader = await cliJson<{ id: string; token: string; caveats: string[] }>([
      '--data-dir', p.dataDir, 'tokens', 'create', '--app', 'tokcli', '--actions', 'read', '--expires', '1h', '--description', 'cli reader',
    ]);
    assert.match(reader.token, /^aloft_/);
    const r = await runCli(['--data-dir', p.dataDir, 'tokens', 'create', '--actions', 'read,fly']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'fly' is not an action/);
  });

  it('auth login stores the token and API URL in a 0600 config, and commands then use it', async () => {
    const r = await runCli(['auth', 'login', '--token', reader.token, '--api', p.endpoints.api]);
    assert.equal(r.code, 0, r.stderr);
    const path = join(configDir, 'config.json');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { api_url: p.endpoints.api, token: reader.token });
    // No endpoints.json here: the login config is what finds the platform.
    const me = await cliJson<Whoami>(['--data-dir', elsewhere, 'auth', 'whoami']);
    assert.equal(me.token_id, reader.id);
    assert.ok(me.summary.includes('apps tokcli') && me.summary.includes('actions read'));
    const apps = await cliJson<{ name: string }[]>(['--data-dir', elsewhere, 'apps', 'list']);
    assert.deepEqual(apps.map((a) => a.name), ['tokcli'], 'the reader sees only its app');
    const refused = await runCli(['--data-dir', elsewhere, 'apps', 'create', 'tokcli-new']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /caveat 2 \(apps\)/);
  });

  it('flags beat the environment, which beats the login config, which beats endpoints.json', async () => {
    assert.equal((await cliJson<Whoami>(['--data-dir', p.dataDir, 'auth', 'whoami'])).token_id, reader.id, 'login config over endpoints.json');
    process.env.ALOFT_API_TOKEN = p.endpoints.token;
    try {
      const viaEnv = await cliJson<Whoami>(['--data-dir', elsewhere, 'auth', 'whoami']);
      assert.deepEqual(viaEnv.summary, ['organization personal'], 'environment over login config');
      const viaFlag = await cliJson<Whoami>(['--data-dir', elsewhere, '--access-token', reader.token, 'auth', 'whoami']);
      assert.equal(viaFlag.token_id, reader.id, 'flag over environment');
    } finally {
      delete process.env.ALOFT_API_TOKEN;
    }
  });

  it('tokens attenuate works offline and the result is narrower', async () => {
    // A dead API URL proves no call is made.
    const r = await runCli(['--api-url', 'http://127.0.0.1:9', 'tokens', 'attenuate', '--token', p.endpoints.token, '--app', 'tokcli-other', '--actions', 'read', '--expires', '1h']);
    assert.equal(r.code, 0, r.stderr);
    const narrowed = r.stdout.trim();
    const me = await cliJson<Whoami>(['--access-token', narrowed, 'auth', 'whoami']);
    assert.deepEqual(me.summary.slice(0, 3), ['organization personal', 'apps tokcli-other', 'actions read']);
    const seen = await cliJson<{ name: string }[]>(['--data-dir', elsewhere, '--access-token', narrowed, 'apps', 'list']);
    assert.deepEqual(seen.map((a) => a.name), ['tokcli-other']);
    const bad = await runCli(['tokens', 'attenuate', '--token', p.endpoints.token, '--expires', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--expires must be a duration/);
  });

  it('tokens list shows ids, descriptions and caveats but no secrets; tokens revoke ends a token everywhere', async () => {
    const list = await cliJson<{ id: string; description: string; caveats: string[]; revoked: boolean }[]>(['--data-dir', elsewhere, '--access-token', p.endpoints.token, 'tokens', 'list']);
    const row = list.find((t) => t.id === reader.id)!;
    assert.equal(row.description, 'cli reader');
    assert.ok(row.caveats.includes('apps tokcli'));
    assert.ok(!JSON.stringify(list).includes(reader.token));
    const table = await runCli(['--data-dir', elsewhere, '--access-token', p.endpoints.token, 'tokens', 'list']);
    assert.match(table.stdout, new RegExp(reader.id));

    assert.equal((await runCli(['--data-dir', p.dataDir, 'tokens', 'revoke', reader.id])).code, 0);
    const refused = await runCli(['--data-dir', elsewhere, 'apps', 'list']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /revoked/);
  });

  it('auth login reads the token from stdin', async () => {
    let stderr = '';
    const child = execFile('bin/aloft', ['auth', 'login', '--api', p.endpoints.api], { env: { ...process.env, ALOFT_CONFIG_DIR: configDir } }, (_err, _out, e) => {
      stderr = e;
    });
    child.stdin!.end(`${p.endpoints.token}\n`);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')).token, p.endpoints.token);
  });
});
