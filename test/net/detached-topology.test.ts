import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { AloftError } from '../../src/lib/errors.ts';
import { randomHex } from '../../src/lib/ids.ts';
import { createTopology, destroyTopology, topologyPrerequisites } from '../../src/net/index.ts';
import { topologyMarkerDir } from '../../src/net/topology-owner.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';
import { isRelayRunning } from './relay-process.ts';

const run = promisify(execFile);
const skip = skipUnlessAvailable(await topologyPrerequisites());
const prefix = `d${randomHex(3)}`;
const hosts = [{ name: 'a', region: 'ams' }, { name: 'i', region: 'iad' }];
let dir: string | undefined;

after(async () => {
  if (skip !== false) return;
  await destroyTopology(prefix);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Builds the topology in another process, which exits once it is up (as `aloft fleet up` does). */
async function buildDetached(): Promise<{ a: string; i: string; relayPid: number }> {
  dir ??= await mkdtemp(join(tmpdir(), 'aloft-detached-net-'));
  const script = fileURLToPath(new URL('./build-detached.ts', import.meta.url));
  const { stdout } = await run(process.execPath, [script, prefix, dir]);
  return JSON.parse(stdout) as { a: string; i: string; relayPid: number };
}

const namespaces = async (): Promise<string[]> => (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));

test('a detached topology outlives the process that built it (relay and wireguard-go), and destroyTopology ends it from another', { skip, timeout: 60_000 }, async () => {
  const built = await buildDetached();
  // The builder has exited; the tunnel through the relay still carries packets, with the delay.
  const { stdout: ping } = await run('ip', ['netns', 'exec', built.a, 'busybox', 'ping', '-c', '4', '-i', '0.3', '-W', '3', built.i]);
  const times = [...ping.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  assert.ok(times.length >= 3, ping);
  // The fastest reply: load on this shared machine only ever adds to the others.
  const fastest = Math.min(...times);
  assert.ok(fastest >= 60 && fastest <= 100, `ams → iad ${fastest} ms at best, matrix 80 ms (${times.join(', ')})`);
  assert.ok((await readdir(dir!)).includes('relay.log'));
  assert.ok(isRelayRunning(built.relayPid), `the relay (pid ${built.relayPid}) runs after its builder exited`);

  // Another owner may not build over it: the build is refused, naming the owner, and nothing is torn down.
  const before = await namespaces();
  await assert.rejects(createTopology({ prefix, hosts }), (err: unknown) => {
    assert.ok(err instanceof AloftError && err.code === 'topology_in_use', String(err));
    assert.match(err.message, /build-detached\.ts/, 'the refusal names the topology\'s owner');
    return true;
  });
  assert.deepEqual(await namespaces(), before);
  assert.ok(isRelayRunning(built.relayPid), 'the refused build left the relay running');

  await destroyTopology(prefix);
  assert.deepEqual(await namespaces(), []);
  assert.deepEqual((await readdir('/var/run/wireguard').catch(() => [])).filter((n) => n.startsWith(`${prefix}-`)), []);
  const { stdout: ps } = await run('ps', ['-eo', 'args']);
  assert.doesNotMatch(ps, new RegExp(`wireguard-go -f ${prefix}-`));
  assert.equal(isRelayRunning(built.relayPid), false, `the relay (pid ${built.relayPid}) is gone`);
  assert.equal(existsSync(join(topologyMarkerDir, `${prefix}.json`)), false, 'the owner\'s marker is gone');
});

test('a topology whose builder and relay are gone is stale: the next build takes the prefix over and removes its remains', { skip, timeout: 60_000 }, async () => {
  const built = await buildDetached();
  process.kill(built.relayPid, 'SIGKILL');
  const topo = await createTopology({ prefix, hosts });
  try {
    const { stdout: ps } = await run('ps', ['-eo', 'args']);
    assert.doesNotMatch(ps, new RegExp(`wireguard-go -f ${prefix}-`), 'the old topology\'s wireguard-go were ended');
    assert.ok(isRelayRunning(topo.relayPid));
  } finally {
    await topo.destroy();
  }
  assert.equal(isRelayRunning(topo.relayPid), false);
});
