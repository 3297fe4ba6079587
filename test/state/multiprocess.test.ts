import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type NodeProcess, post, queryRows, startNodeProcess, stopProcess } from './cluster-helpers.ts';
import { eventually } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'aloft-state-mp-'));
const nodes: NodeProcess[] = [];
after(async () => {
  for (const n of nodes) await stopProcess(n, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function write(n: NodeProcess, id: string, state: string): Promise<number> {
  const res = await post(`${n.http}/v1/transactions`, [[
    'INSERT INTO machines (id, app, host_id, state) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state',
    [id, 'web', n.id, state],
  ]]);
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { version: number }).version;
}

test('five OS processes converge through writes on several nodes and a SIGKILLed, restarted node', { timeout: 120_000 }, async () => {
  nodes.push(await startNodeProcess(join(dir, 'n0'), []));
  for (let i = 1; i < 5; i++) nodes.push(await startNodeProcess(join(dir, `n${i}`), [nodes[0]!.address]));
  const all = async (check: (n: NodeProcess) => Promise<boolean>): Promise<boolean> => (await Promise.all(nodes.map(check))).every(Boolean);
  await eventually(() => all(async (n) => (await queryRows(n.http, "SELECT id FROM json_each('[]')")).length === 0 && true), 'nodes serving');
  await eventually(
    () => all(async (n) => ((await (await fetch(`${n.http}/v1/members`)).json()) as Array<{ state: string }>).filter((m) => m.state === 'alive').length === 5),
    'all five members alive everywhere',
    20_000,
  );

  for (let i = 0; i < 3; i++) for (let k = 0; k < 10; k++) await write(nodes[i]!, `m-${i}-${k}`, 'started');
  const victim = nodes[4]!;
  const port = Number(victim.address.split(':').pop());
  await stopProcess(victim, 'SIGKILL');
  for (let k = 0; k < 10; k++) await write(nodes[1]!, `m-1-${k}`, 'stopped');
  await write(nodes[2]!, 'm-late', 'started');
  const res = await post(`${nodes[3]!.http}/v1/transactions`, ["DELETE FROM machines WHERE id = 'm-0-0'"]);
  assert.equal(res.status, 200);

  await eventually(
    async () => (await Promise.all(nodes.slice(0, 4).map(async (n) => ((await (await fetch(`${n.http}/v1/members`)).json()) as Array<{ id: string; state: string }>).find((m) => m.id === victim.id)?.state))).every((s) => s !== 'alive'),
    'the killed node detected as failed',
    20_000,
  );
  nodes[4] = await startNodeProcess(join(dir, 'n4'), [nodes[0]!.address], port);
  assert.equal(nodes[4].id, victim.id, 'a restarted node keeps its identity from its disk');

  const expected = JSON.stringify(await queryRows(nodes[0]!.http, 'SELECT * FROM machines ORDER BY id'));
  await eventually(
    () => all(async (n) => JSON.stringify(await queryRows(n.http, 'SELECT * FROM machines ORDER BY id')) === expected),
    'identical machines tables on all five nodes',
    30_000,
  );
  const rows = await queryRows(nodes[4]!.http, "SELECT id, state FROM machines WHERE id IN ('m-0-0', 'm-1-3', 'm-late') ORDER BY id");
  assert.deepEqual(rows, [['m-1-3', 'stopped'], ['m-late', 'started']]);
  await eventually(
    () => all(async (n) => ((await (await fetch(`${n.http}/v1/members`)).json()) as Array<{ state: string }>).filter((m) => m.state === 'alive').length === 5),
    'membership agrees again after the restart',
    30_000,
  );
});
