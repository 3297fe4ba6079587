import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateRateLimitedError } from '../../src/state/errors.ts';
import { loadSchemaFile } from '../../src/state/schema/schema.ts';
import { SimCluster } from '../../src/state/sim/cluster.ts';
import { rttBetween } from '../../src/state/sim/scenario.ts';

test('a node spamming writes slows only itself: others’ writes still spread at once', () => {
  const cluster = new SimCluster({
    seed: 99,
    regions: ['ams', 'iad'],
    nodes: 6,
    rttMs: rttBetween,
    schema: loadSchemaFile(),
    limits: { localWritesPerSecond: 200, localWritesBurst: 200 },
  });
  cluster.runFor(3_000);
  const [spammer, writer] = [cluster.hosts[0]!.node!, cluster.hosts[3]!.node!];
  let refused = 0;
  let accepted = 0;
  let quietWriteAtMs = 0;
  for (let t = 0; t < 3_000; t += 10) {
    for (let i = 0; i < 50; i++) {
      try {
        spammer.transaction([{ sql: 'INSERT INTO machines (id, app) VALUES (?, ?)', params: [`spam-${t}-${i}`, 'spam'] }]);
        accepted++;
      } catch (err) {
        assert.ok(err instanceof StateRateLimitedError);
        refused++;
      }
    }
    if (t === 1_500) {
      writer.transaction([{ sql: "INSERT INTO machines (id, app) VALUES ('important', 'web')" }]);
      quietWriteAtMs = cluster.nowMs;
    }
    cluster.runFor(10);
  }
  assert.ok(refused > accepted * 5, `the spammer was throttled (${accepted} accepted, ${refused} refused)`);
  const visibleEverywhere = (): boolean => cluster.hosts.every((h) => h.node!.store.prepareQuery("SELECT 1 FROM machines WHERE id = 'important'").all().length === 1);
  assert.ok(visibleEverywhere(), 'the quiet writer’s row reached every node during the spam');
  assert.ok(cluster.nowMs - quietWriteAtMs > 0);
  cluster.runFor(10_000);
  const count = (h: (typeof cluster.hosts)[number]): number => (h.node!.store.prepareQuery("SELECT count(*) AS n FROM machines WHERE app = 'spam'").get() as { n: number }).n;
  assert.ok(cluster.hosts.every((h) => count(h) === accepted), 'every accepted spam write still arrives everywhere');
  for (const h of cluster.hosts) h.node!.stop();
});
