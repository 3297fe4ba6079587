import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, afterEach, before, test } from 'node:test';
import { randomHex } from '../../src/lib/ids.ts';
import { hasRootNetworking, MachineNetworks } from '../../src/net/index.ts';
import { skipUnlessAvailable } from '../helpers/prerequisites.ts';

const run = promisify(execFile);
const canNetwork = await hasRootNetworking();
const skip = skipUnlessAvailable(canNetwork ? [] : ['root and a working `ip netns`']);
// A prefix of our own keeps parallel test files and real agents on this computer apart.
const prefix = `t${randomHex(3)}`;
let dataDir: string;
let nets: MachineNetworks;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'aloft-net-'));
  nets = new MachineNetworks({ dataDir, namePrefix: prefix });
});

// Whatever a failed test left behind is removed before the next one starts.
afterEach(async () => {
  if (!canNetwork) return;
  for (const leaked of await nets.listMachineNetworks()) await nets.detachMachine(leaked.machineId);
});

after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function addrsIn(netns: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', netns, '-json', 'addr', 'show', 'dev', 'eth0']);
  return (JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

test('attach makes a namespace reachable over IPv4 and 6PN IPv6; repeat is a no-op; detach removes all', { skip }, async () => {
  const id = randomHex(7);
  const net = await nets.attachMachine(id, { org: 0x2a, hostNum: 3 });
  assert.equal(net.netnsPath, `/run/netns/${prefix}-${id}`);
  assert.ok(net.hostVeth.length <= 15);
  assert.match(net.ipv4, /^172\.19\.\d+\.\d+$/);
  assert.match(net.ipv6, /^fdaa:0:2a:3:[0-9a-f:]*:2$/);
  assert.deepEqual(await nets.attachMachine(id, { org: 0x2a, hostNum: 3 }), net, 'attach is idempotent');
  const inside = await addrsIn(`${prefix}-${id}`);
  assert.ok(inside.includes(`${net.ipv4}/30`), inside.join(' '));
  assert.ok(inside.includes(`${net.ipv6}/80`), inside.join(' '));
  await run('busybox', ['ping', '-c', '1', '-W', '2', net.ipv4]);
  await run('busybox', ['ping', '-6', '-c', '1', '-W', '2', net.ipv6]);
  // From inside, the default routes reach the host side.
  await run('ip', ['netns', 'exec', `${prefix}-${id}`, 'busybox', 'ping', '-c', '1', '-W', '2', net.hostIpv4]);
  assert.deepEqual(await nets.listMachineNetworks(), [{ machineId: id, netnsName: `${prefix}-${id}`, hostVeth: net.hostVeth }]);

  await nets.detachMachine(id);
  await nets.detachMachine(id);
  assert.deepEqual(await nets.listMachineNetworks(), []);
});

test('machines get distinct slots, stable across a restart of the agent', { skip }, async () => {
  const a = randomHex(7);
  const b = randomHex(7);
  const [na, nb] = await Promise.all([nets.attachMachine(a, { org: 1, hostNum: 1 }), nets.attachMachine(b, { org: 1, hostNum: 1 })]);
  assert.notEqual(na.slot, nb.slot);
  const restarted = new MachineNetworks({ dataDir, namePrefix: prefix });
  assert.deepEqual(await restarted.attachMachine(b, { org: 1, hostNum: 1 }), nb);
  await restarted.detachMachine(a);
  await restarted.detachMachine(b);
  assert.deepEqual(await nets.listMachineNetworks(), []);
});

test('a crash between steps is repaired by calling attach again, or cleaned by detach', { skip }, async () => {
  const id = randomHex(7);
  const net = await nets.attachMachine(id, { org: 5, hostNum: 5 });
  // As if the agent died right after `ip netns add`: the link and addresses are gone.
  await run('ip', ['link', 'delete', net.hostVeth]);
  assert.deepEqual(await nets.listMachineNetworks(), [{ machineId: id, netnsName: `${prefix}-${id}`, hostVeth: null }]);
  const repaired = await nets.attachMachine(id, { org: 5, hostNum: 5 });
  assert.deepEqual(repaired, net);
  await run('busybox', ['ping', '-c', '1', '-W', '2', net.ipv4]);
  // As if the agent died after deleting the namespace but before the rest.
  await run('ip', ['netns', 'delete', `${prefix}-${id}`]);
  await nets.detachMachine(id);
  assert.deepEqual(await nets.listMachineNetworks(), []);
});

test('a slot whose address is already on the host is skipped', { skip }, async () => {
  const first = randomHex(7);
  const net = await nets.attachMachine(first, { org: 1, hostNum: 1 });
  // Lose the slot table, as if the data dir were wiped while the link survived.
  await rm(join(dataDir, 'net', 'slots.json'));
  const second = randomHex(7);
  const other = await nets.attachMachine(second, { org: 1, hostNum: 1 });
  assert.notEqual(other.slot, net.slot);
  await nets.detachMachine(first);
  await nets.detachMachine(second);
  assert.deepEqual(await nets.listMachineNetworks(), []);
});
