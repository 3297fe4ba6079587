/**
 * App secrets end to end: set through the CLI, sealed by the API, carried to the host by the
 * state layer, and seen by the app as environment variables (and as a file) after the rolling
 * restart; listed by name and digest only; never in the platform's logs; and read from the
 * host's own state node when a machine restarts without the API.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import { ApiClient } from '../../src/cli/api-client.ts';
import { createLogger, type Machine } from '../../src/lib/index.ts';
import { cliJson, runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';

const app = 'vault';
const secretValue = 'pg://admin:s3cr3t-Value-42@db/prod';
let p: TestPlatform;
let logs = '';
const cli = (args: string[]) => runCli(['--data-dir', p.dataDir, ...args]);

async function env(): Promise<string> {
  const res = await request(`${p.endpoints.proxy}/cgi-bin/env`, { headers: { host: `${app}.aloft.localhost` } });
  return `${res.statusCode} ${await res.body.text()}`;
}

before(async () => {
  // Every log line the platform writes, at debug, to check that no secret value is among them.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  p = await startTestPlatform({ logger: createLogger('test', { level: 'debug', destination: sink }) });
  const rootfs = await mkdtemp(join(tmpdir(), 'aloft-rootfs-'));
  try {
    await writeExampleRootfs(rootfs);
    await writeFile(
      join(rootfs, 'www', 'cgi-bin', 'env'),
      '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nprintf "DATABASE_URL=%s\\nGREETING=%s\\nFILE=%s\\n" "$DATABASE_URL" "$GREETING" "$(cat /etc/app/key 2>/dev/null)"\n',
      { mode: 0o755 },
    );
    const imported = await cli(['images', 'import', rootfs, '--tag', 'vault:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
    assert.equal(imported.code, 0, imported.stderr);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
  }
  assert.equal((await cli(['apps', 'create', app])).code, 0);
  const run = await cli(['machine', 'run', 'vault:v1', '-a', app, '-p', '80:8080/tcp:http', '-e', 'GREETING=hi']);
  assert.equal(run.code, 0, run.stderr);
});

after(async () => {
  await p.stop();
  await rm(p.dataDir, { recursive: true, force: true });
});

describe('aloft secrets', () => {
  it('set restarts the running machines, which then see the values', async () => {
    const set = await cli(['secrets', 'set', `DATABASE_URL=${secretValue}`, 'GREETING=from-secret', '-a', app]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stderr, /secrets of vault are at version 1/);
    assert.match(set.stderr, /restarted [0-9a-f]{14} with the new secrets/);
    assert.ok(!set.stderr.includes(secretValue) && !set.stdout.includes(secretValue), 'the CLI never prints a value');
    const page = await eventually('the new env to be served', async () => {
      const text = await env();
      return text.includes(secretValue) ? text : undefined;
    });
    assert.match(page, /GREETING=from-secret/, 'a secret wins over the config env of the same name');
  });

  it('list shows names and digests, never values; the API and the logs never hold them', async () => {
    const list = await cliJson<{ name: string; digest: string }[]>(['--data-dir', p.dataDir, 'secrets', 'list', '-a', app]);
    assert.deepEqual(list.map((s) => s.name), ['DATABASE_URL', 'GREETING']);
    assert.match(list[0]!.digest, /^[0-9a-f]{16}$/);
    assert.ok(!JSON.stringify(list).includes(secretValue));
    const machines = await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app]);
    assert.ok(!JSON.stringify(machines).includes(secretValue), 'the machine view carries no secret');
    assert.equal(machines[0]!.secrets_version, 1);
    assert.ok(logs.length > 1000, 'the platform logged at debug');
    assert.ok(!logs.includes(secretValue), 'no log line holds the value');
  });

  it('a staged change waits for the next restart; a file can come from a secret', async () => {
    const staged = await cli(['secrets', 'set', 'GREETING=staged', `KEYFILE=${Buffer.from('-----KEY-----').toString('base64')}`, '--stage', '-a', app]);
    assert.equal(staged.code, 0, staged.stderr);
    assert.doesNotMatch(staged.stderr, /restarted/);
    assert.match(await env(), /GREETING=from-secret/);

    const [machine] = await cliJson<Machine[]>(['--data-dir', p.dataDir, 'machine', 'list', '-a', app]);
    const config = { ...machine!.config, files: [{ guest_path: '/etc/app/key', secret_name: 'KEYFILE' }] };
    await new ApiClient(p.endpoints).call('POST', `/v1/apps/${app}/machines/${machine!.id}`, { config });
    const page = await eventually('the staged values after the update', async () => {
      const text = await env();
      return text.includes('GREETING=staged') ? text : undefined;
    });
    assert.match(page, /FILE=-----KEY-----/);
  });

  it('a machine restarted without the API still gets its secrets from the host', async () => {
    const agent = p.platform.agent!;
    const [record] = agent.service.list().filter((r) => r.app === app && r.state === 'started');
    const eventsBefore = record!.events.length;
    // The agent alone: no API call is involved in a restart it performs.
    await agent.service.restart(record!.id, {});
    await eventually('restarted', () => {
      const now = agent.service.get(record!.id);
      return now.state === 'started' && now.events.length > eventsBefore && now.events.at(-1)?.type === 'start';
    });
    const text = await eventually('served again', async () => {
      const t = await env();
      return t.startsWith('200') ? t : undefined;
    });
    assert.ok(text.includes(secretValue));
  });

  it('import reads NAME=VALUE lines from stdin (the real bin/aloft), skipping blanks and comments', async () => {
    const child = spawn('bin/aloft', ['--data-dir', p.dataDir, 'secrets', 'import', '--stage', '-a', app], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end('# from .env\n\nIMPORTED_ONE=a=b=c\nIMPORTED_TWO= spaced value \n');
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /IMPORTED_ONE, IMPORTED_TWO/);
    const list = await cliJson<{ name: string }[]>(['--data-dir', p.dataDir, 'secrets', 'list', '-a', app]);
    assert.ok(list.some((s) => s.name === 'IMPORTED_ONE') && list.some((s) => s.name === 'IMPORTED_TWO'));
  });

  it('unset removes a value; bad input names the problem without echoing values', async () => {
    const unset = await cli(['secrets', 'unset', 'DATABASE_URL', '-a', app]);
    assert.equal(unset.code, 0, unset.stderr);
    assert.equal(await eventually('the value gone', async () => ((await env()).includes('DATABASE_URL=\n') ? 'gone' : undefined)), 'gone');
    const bad = await cli(['secrets', 'set', 'not-a-pair-hunter2', '-a', app]);
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.stderr, /hunter2/);
    const badName = await cli(['secrets', 'set', '1X=secretish', '-a', app]);
    assert.equal(badName.code, 2);
    assert.doesNotMatch(badName.stderr, /secretish/);
  });
});
