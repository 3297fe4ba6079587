import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/lib/log.ts';
import { openState, type StateHandle, type SubscriptionEvent } from '../../src/state/index.ts';
import { post, testClusterKey } from './cluster-helpers.ts';
import { eventually } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'aloft-state-api-'));
const handles: StateHandle[] = [];
after(async () => {
  for (const h of handles) await h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(name: string, seeds: string[], key = testClusterKey): Promise<StateHandle> {
  const h = await openState({ dataDir: join(dir, name), clusterKey: Buffer.from(key, 'hex'), seeds, httpPort: 0, log: silentLogger() });
  handles.push(h);
  return h;
}

test('library and HTTP API: a write on one node reaches a subscriber on another, and a subscription resumes', { timeout: 30_000 }, async () => {
  const agent = await open('agent', []);
  const proxy = await open('proxy', [agent.address]);
  const stranger = await open('stranger', [agent.address], 'b2'.repeat(32));

  const sub = proxy.subscribe("SELECT id, state FROM machines WHERE app = ?", ['web']);
  const seen: SubscriptionEvent[] = [];
  const reading = (async () => {
    for await (const e of sub.events) {
      seen.push(e);
      if (seen.length === 3) return;
    }
  })();
  agent.transaction([{ sql: 'INSERT INTO machines (id, app, state) VALUES (?, ?, ?)', params: ['m1', 'web', 'started'] }]);
  await eventually(() => seen.length >= 2, 'insert seen by the subscriber');
  agent.transaction([{ sql: "UPDATE machines SET state = 'stopped' WHERE id = 'm1'" }]);
  await reading;
  assert.deepEqual(seen[0], { type: 'initial', columns: ['id', 'state'], rows: [], changeId: 0 });
  assert.deepEqual(seen.slice(1).map((e) => e.type === 'change' && [e.kind, e.values, e.changeId]), [
    ['insert', ['m1', 'started'], 1],
    ['update', ['m1', 'stopped'], 2],
  ]);

  // Resume over HTTP from change 1: only the update comes back.
  const controller = new AbortController();
  const res = await fetch(`${proxy.httpUrl}/v1/subscriptions/${sub.id}?from=1`, { signal: controller.signal });
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  assert.deepEqual(JSON.parse(new TextDecoder().decode(value).trim().split('\n')[0]!), { change: ['update', 1, ['m1', 'stopped'], 2] });
  controller.abort();

  // Transactions and queries over HTTP, Corrosion-shaped.
  const tx = await post(`${proxy.httpUrl}/v1/transactions`, [["INSERT INTO hosts (id, region) VALUES (?, ?)", ['h1', 'ams']], "UPDATE hosts SET cpus = 8"]);
  assert.equal(tx.status, 200);
  const body = (await tx.json()) as { results: Array<{ rows_affected: number }>; version: number };
  assert.deepEqual(body.results.map((r) => r.rows_affected), [1, 1]);
  assert.equal(body.version, 1);
  await eventually(() => agent.query('SELECT cpus FROM hosts').rows[0]?.[0] === 8, 'host row on the agent');
  const q = await post(`${agent.httpUrl}/v1/queries`, ['SELECT id, cpus FROM hosts WHERE region = ?', ['ams']]);
  const lines = (await q.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.slice(0, 2), [{ columns: ['id', 'cpus'] }, { row: [1, ['h1', 8]] }]);

  const bad = await post(`${agent.httpUrl}/v1/transactions`, ['DROP TABLE hosts']);
  assert.equal(bad.status, 422);
  assert.equal(((await bad.json()) as { code: string }).code, 'invalid_request');

  // A node with the wrong cluster key never joins and never receives data.
  assert.ok(!agent.members().some((m) => m.id === stranger.id));
  assert.deepEqual(stranger.query('SELECT * FROM machines').rows, []);
  assert.ok(agent.node.stats.packetsRejected > 0, 'the stranger’s packets were rejected');
});

test('membership changes are reported when a node goes away', { timeout: 30_000 }, async () => {
  const a = await open('ma', [], 'c3'.repeat(32));
  const b = await open('mb', [a.address], 'c3'.repeat(32));
  const events: string[] = [];
  a.onMemberChange((e) => events.push(`${e.member.id}:${e.member.state}`));
  await eventually(() => a.members().some((m) => m.id === b.id && m.state === 'alive'), 'b alive on a');
  await b.close();
  handles.splice(handles.indexOf(b), 1);
  await eventually(() => events.includes(`${b.id}:dead`), 'b reported dead', 20_000);
  assert.ok(events.includes(`${b.id}:suspect`), 'suspected before declared dead');
});
