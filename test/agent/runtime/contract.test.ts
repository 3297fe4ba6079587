/**
 * One contract, every driver (STYLE.md practice 6): the same behaviour from `oci` (runc, as
 * root) and `process` (unprivileged fallback).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ExitInfo } from '../../../src/agent/runtime/index.ts';
import { skipWithoutOciRuntime } from '../../helpers/root-prerequisites.ts';
import { eventually, Harness, type DriverKind } from './harness.ts';

const kinds: { kind: DriverKind; skip: string | false }[] = [
  { kind: 'oci', skip: await skipWithoutOciRuntime() },
  { kind: 'process', skip: false },
];

for (const { kind, skip } of kinds) {
  describe(`${kind} driver contract`, { skip }, () => {
    let h: Harness;
    before(async () => {
      h = await Harness.create(kind);
    });
    afterEach(async () => {
      await h.cleanup();
      assert.deepEqual(await h.leaks(), [], 'nothing may outlive destroy');
    });
    after(async () => {
      await h?.dispose();
    });

    const nextExit = (id: string, driver = h.driver): Promise<ExitInfo> =>
      new Promise((resolve) => {
        const stop = driver.watch(id, (exit) => {
          stop();
          resolve(exit);
        });
      });

    test('runs to exit 0 with output in the log, env, files and hostname in place', async () => {
      const m = await h.machine(['sh', '-c', 'echo "out $GREETING"; echo err >&2; cat etc/aloft-secret; echo']);
      assert.deepEqual(await h.driver.status(m.id), { state: 'created' });
      const exited = nextExit(m.id);
      const { pid } = await h.driver.start(m.id);
      assert.ok(pid > 0);
      const exit = await exited;
      assert.equal(exit.exitCode, 0);
      assert.equal(exit.signal, null);
      assert.equal(exit.oomKilled, false);
      const log = await h.log(m);
      assert.match(log, /out hi\n/);
      assert.match(log, /err\n/);
      assert.match(log, /s3cret/);
      assert.deepEqual(await h.driver.status(m.id), { state: 'exited', exit });
    });

    test('a non-zero exit code is reported as is', async () => {
      const m = await h.machine(['sh', '-c', 'exit 3']);
      const exited = nextExit(m.id);
      await h.driver.start(m.id);
      assert.deepEqual({ ...(await exited), exitedAt: 0 }, { exitCode: 3, signal: null, oomKilled: false, exitedAt: 0 });
    });

    test('stop with SIGTERM ends the program with signal 15; repeats and a second start behave', async () => {
      const m = await h.machine(['sleep', '1000']);
      const first = await h.driver.start(m.id);
      assert.deepEqual(await h.driver.start(m.id), first, 'start is idempotent while running');
      const exit = await h.driver.stop(m.id, 'SIGTERM', 5000);
      assert.equal(exit?.exitCode, 143);
      assert.equal(exit?.signal, 15);
      assert.deepEqual(await h.driver.stop(m.id, 'SIGTERM', 5000), exit, 'stop is idempotent');
      await h.driver.start(m.id);
      assert.equal((await h.driver.status(m.id)).state, 'running', 'a stopped machine starts again');
      await h.driver.stop(m.id, 'SIGTERM', 5000);
    });

    test('a program that ignores the stop signal is killed after the timeout', async () => {
      const m = await h.machine(['sh', '-c', "trap '' TERM; echo ready; while :; do sleep 0.05; done"]);
      await h.driver.start(m.id);
      await eventually(async () => ((await h.log(m)).includes('ready') ? true : undefined), 5000, 'program ready');
      const t0 = performance.now();
      const exit = await h.driver.stop(m.id, 'SIGTERM', 300);
      assert.ok(performance.now() - t0 >= 290, 'waited for the timeout');
      assert.equal(exit?.exitCode, 137);
      assert.equal(exit?.signal, 9);
    });

    test('signal reaches the program, which can handle it', async () => {
      const m = await h.machine(['sh', '-c', 'trap "echo got usr1; exit 5" USR1; echo ready; while :; do sleep 0.05; done']);
      const exited = nextExit(m.id);
      await h.driver.start(m.id);
      await eventually(async () => ((await h.log(m)).includes('ready') ? true : undefined), 5000, 'program ready');
      await h.driver.signal(m.id, 'SIGUSR1');
      assert.equal((await exited).exitCode, 5);
      assert.match(await h.log(m), /got usr1/);
    });

    test('exec runs inside the instance with the machine env and stdin', async () => {
      const m = await h.machine(['sleep', '1000']);
      await h.driver.start(m.id);
      const r = await h.driver.exec(m.id, ['sh', '-c', 'echo "$GREETING"; cat; exit 7'], 5000, Buffer.from('from stdin'));
      assert.deepEqual(r, { exitCode: 7, stdout: 'hi\nfrom stdin', stderr: '' });
      await h.driver.stop(m.id, 'SIGTERM', 5000);
      await assert.rejects(h.driver.exec(m.id, ['true'], 5000), /not running/);
    });

    test('an exit while nobody watched is reported when a restarted agent watches; each run once', async () => {
      const m = await h.machine(['sh', '-c', 'echo run; exit 4']);
      await h.driver.start(m.id);
      await eventually(async () => ((await h.driver.status(m.id)).state === 'exited' ? true : undefined), 5000, 'exit');
      const restarted = h.newDriver();
      const seen: ExitInfo[] = [];
      const stop = restarted.watch(m.id, (e) => seen.push(e));
      try {
        await eventually(async () => (seen.length === 1 ? true : undefined), 3000, 'the missed exit');
        assert.equal(seen[0]!.exitCode, 4);
        await restarted.start(m.id);
        await eventually(async () => (seen.length === 2 ? true : undefined), 5000, 'the second exit');
        assert.equal(seen[1]!.exitCode, 4);
      } finally {
        stop();
      }
      assert.equal((await h.log(m)).match(/^run$/gm)?.length, 2, 'log appended across runs');
    });

    test('prepare and destroy are idempotent; destroy of a running machine leaves nothing', async () => {
      const m = await h.machine(['sleep', '1000']);
      await h.driver.prepare(m.spec);
      await h.driver.start(m.id);
      assert.deepEqual(await h.driver.list(), [m.id]);
      await h.destroy(m.id);
      await h.driver.destroy(m.id);
      assert.deepEqual(await h.driver.status(m.id), { state: 'absent' });
      assert.deepEqual(await h.driver.list(), []);
    });

    test('start of an unknown machine is a not-found error', async () => {
      await assert.rejects(h.driver.start('00000000000000'), (err: unknown) => (err as { code?: string }).code === 'instance_not_found');
      assert.equal(await h.driver.stop('00000000000000', 'SIGTERM', 100), null);
    });
  });
}
