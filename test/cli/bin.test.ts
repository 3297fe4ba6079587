/** The real `bin/aloft` executable, as a user's shell runs it: help, usage errors and exit codes. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)('bin/aloft', args, { env: { ...process.env, ALOFT_API_URL: '', ALOFT_API_TOKEN: '', ALOFT_CONFIG_DIR: empty } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

let empty: string;
before(async () => {
  empty = await mkdtemp(join(tmpdir(), 'aloft-cli-'));
});
after(async () => {
  await rm(empty, { recursive: true, force: true });
});

describe('bin/aloft', () => {
  it('prints help listing the command nouns', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const noun of ['up', 'apps', 'machine', 'logs', 'images']) assert.match(r.stdout, new RegExp(`\\b${noun}\\b`));
  });

  it('says how to reach a platform when none is configured, with exit code 2', async () => {
    const r = await run(['apps', 'list', '--data-dir', empty]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no Aloft platform found/);
    assert.match(r.stderr, /aloft up/);
  });

  it('names a missing argument or unknown command and exits 2', async () => {
    const missing = await run(['machine', 'run', '--data-dir', empty]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'image'/);
    const unknown = await run(['machnie', 'list']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'machnie'/);
  });

  it('emits errors as JSON with --json', async () => {
    const r = await run(['apps', 'list', '--data-dir', empty, '--json']);
    assert.equal(r.code, 2);
    const body = JSON.parse(r.stderr.trim()) as { code: string; fault: string };
    assert.equal(body.code, 'no_platform');
    assert.equal(body.fault, 'user');
  });
});
