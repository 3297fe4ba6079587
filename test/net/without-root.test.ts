import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { createTopology } from '../../src/net/index.ts';

const run = promisify(execFile);

/** As root the check runs in a child with the uid of `nobody`; otherwise here. */
async function tryWithoutRoot(): Promise<{ code: string; fault: string; message: string; hint: string }> {
  if (process.getuid?.() !== 0) {
    const err = (await createTopology({ prefix: 'x', hosts: [{ name: 'a', region: 'ams' }] }).then(
      () => assert.fail('built a topology without root'),
      (e: unknown) => e,
    )) as { code: string; fault: string; message: string; hint: string };
    return { code: err.code, fault: err.fault, message: err.message, hint: err.hint };
  }
  const script = `import('${new URL('../../src/net/index.ts', import.meta.url).href}').then((m) => m.createTopology({ prefix: 'x', hosts: [{ name: 'a', region: 'ams' }] })).then(
    () => process.exit(3),
    (e) => console.log(JSON.stringify({ code: e.code, fault: e.fault, message: e.message, hint: e.hint })),
  )`;
  const { stdout } = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script]);
  return JSON.parse(stdout) as { code: string; fault: string; message: string; hint: string };
}

test('without root, building a topology says what is missing and what to do instead', async () => {
  const err = await tryWithoutRoot();
  assert.equal(err.code, 'network_unavailable');
  assert.equal(err.fault, 'config');
  assert.match(err.message, /needs root/);
  assert.match(err.hint, /processes on loopback addresses/);
});
