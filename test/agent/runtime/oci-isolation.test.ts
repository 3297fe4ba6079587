/** oci only: limits are enforced by the kernel, and the machine is reachable over its veth. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ExitInfo } from '../../../src/agent/runtime/index.ts';
import { skipWithoutOciRuntime } from '../../helpers/root-prerequisites.ts';
import { eventually, Harness } from './harness.ts';

const skip = await skipWithoutOciRuntime();

describe('oci driver isolation', { skip }, () => {
  let h: Harness;
  before(async () => {
    h = await Harness.create('oci');
  });
  afterEach(async () => {
    await h.cleanup();
    assert.deepEqual(await h.leaks(), []);
  });
  after(async () => {
    await h?.dispose();
  });

  const exitOf = (id: string): Promise<ExitInfo> =>
    new Promise((resolve) => {
      const stop = h.driver.watch(id, (e) => {
        stop();
        resolve(e);
      });
    });

  test('the memory limit holds and an OOM kill is reported as such', async () => {
    // tmpfs pages are charged to the cgroup and cannot be reclaimed without swap, so this must hit the OOM killer.
    const m = await h.machine(['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=48'], { limits: { cpus: 0.5, memoryMb: 16, pidsMax: 16 } });
    const exit = exitOf(m.id);
    await h.driver.start(m.id);
    const cg = `/sys/fs/cgroup/memory/${h.cgroupParent}/${m.id}`;
    assert.equal((await readFile(`${cg}/memory.limit_in_bytes`, 'utf8')).trim(), String(16 * 1024 * 1024));
    assert.equal((await readFile(`/sys/fs/cgroup/cpu/${h.cgroupParent}/${m.id}/cpu.cfs_quota_us`, 'utf8')).trim(), '50000');
    const e = await exit;
    assert.equal(e.oomKilled, true);
    assert.equal(e.signal, 9);
  });

  test('the pids limit holds', async () => {
    const m = await h.machine(['sh', '-c', 'i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo spawned all'], { limits: { cpus: 1, memoryMb: 64, pidsMax: 8 } });
    await h.driver.start(m.id);
    assert.equal((await readFile(`/sys/fs/cgroup/pids/${h.cgroupParent}/${m.id}/pids.max`, 'utf8')).trim(), '8');
    await eventually(async () => (/can't fork|Resource temporarily unavailable/.test(await h.log(m)) ? true : undefined), 5000, 'fork to fail');
    const current = Number(await readFile(`/sys/fs/cgroup/pids/${h.cgroupParent}/${m.id}/pids.current`, 'utf8'));
    assert.ok(current <= 8, `pids.current ${current}`);
    assert.doesNotMatch(await h.log(m), /spawned all/);
  });

  test('busybox httpd in the machine answers the host over the veth, IPv4 and IPv6', async () => {
    const m = await h.machine(['httpd', '-f', '-p', '8080', '-h', '/var/www']);
    await h.driver.start(m.id);
    const get = async (url: string): Promise<string | undefined> => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        return await res.text();
      } catch {
        return undefined;
      }
    };
    assert.equal(await eventually(() => get(`http://${m.ipv4}:8080/index.html`), 5000, 'httpd over IPv4'), 'hello over the veth\n');
    assert.equal(await eventually(() => get(`http://[${m.ipv6}]:8080/index.html`), 5000, 'httpd over IPv6'), 'hello over the veth\n');
    // The hostname and /etc/hosts are the machine's own.
    const r = await h.driver.exec(m.id, ['sh', '-c', 'hostname; grep -c "m-" /etc/hosts'], 5000);
    assert.equal(r.stdout, `m-${m.id}\n1\n`);
  });
});
