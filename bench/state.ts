/**
 * State layer benchmark: write visibility latency in a 64-node simulated cluster over three
 * regions (up to 150 ms RTT) at 1,000 writes/s, the same on 16 real processes on loopback,
 * bytes sent per node per second, and how long a node that was down for a minute takes to
 * catch up. Writes bench/results/state.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomInt } from '../src/state/random.ts';
import { loadSchemaFile } from '../src/state/schema/schema.ts';
import { SimCluster } from '../src/state/sim/cluster.ts';
import { rttBetween } from '../src/state/sim/scenario.ts';
import { post, startNodeProcess, stopProcess, type NodeProcess } from '../test/state/cluster-helpers.ts';

const regions = ['ams', 'iad', 'syd'];

function percentile(values: number[], p: number): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10;
}

/** Drives writes into a simulated cluster and records when each version is visible everywhere. */
function simVisibility(nodes: number, writesPerSecond: number, writeMs: number): { p50: number; p99: number; bytesPerNodePerS: number; writes: number; missing: number } {
  const cluster = new SimCluster({ seed: 7, regions, nodes, rttMs: rttBetween, schema: loadSchemaFile() });
  cluster.runFor(5_000);
  const pending = new Map<string, { t0: number; seen: number }>();
  const latencies: number[] = [];
  for (const h of cluster.hosts) {
    h.node!.onApplied((e) => {
      for (let v = e.from; v <= e.to; v++) {
        const p = pending.get(`${e.site}:${v}`);
        if (p === undefined) continue;
        if (++p.seen === nodes) {
          latencies.push(cluster.nowMs - p.t0);
          pending.delete(`${e.site}:${v}`);
        }
      }
    });
  }
  const bytesBefore = cluster.hosts.reduce((s, h) => s + h.node!.stats.bytesSent, 0);
  const stepMs = 10;
  let id = 0;
  for (let t = 0; t < writeMs; t += stepMs) {
    for (let i = 0; i < (writesPerSecond * stepMs) / 1000; i++) {
      const host = cluster.hosts[randomInt(cluster.random, nodes)]!;
      const node = host.node!;
      // The writer's own commit counts as its first sighting (reported synchronously, hence seen: 0 then +1).
      pending.set(`${node.id}:${node.store.head() + 1}`, { t0: cluster.nowMs, seen: 0 });
      node.transaction([{ sql: 'INSERT INTO machines (id, app, host_id, state) VALUES (?, ?, ?, ?)', params: [`m${id++}`, 'bench', host.addr, 'started'] }]);
    }
    cluster.runFor(stepMs);
  }
  const bytes = cluster.hosts.reduce((s, h) => s + h.node!.stats.bytesSent, 0) - bytesBefore;
  cluster.runFor(5_000);
  for (const h of cluster.hosts) h.node!.stop();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), bytesPerNodePerS: Math.round(bytes / nodes / (writeMs / 1000)), writes: id, missing: pending.size };
}

/** A node down for `downMs` of continuing writes: virtual ms from its restart until it holds everything. */
function simCatchup(nodes: number, writesPerSecond: number, downMs: number): number {
  const cluster = new SimCluster({ seed: 11, regions, nodes, rttMs: rttBetween, schema: loadSchemaFile() });
  cluster.runFor(5_000);
  const victim = cluster.hosts[nodes - 1]!;
  cluster.crash(victim);
  let id = 0;
  for (let t = 0; t < downMs; t += 100) {
    for (let i = 0; i < writesPerSecond / 10; i++) {
      const host = cluster.hosts[randomInt(cluster.random, nodes - 1)]!;
      host.node!.transaction([{ sql: 'INSERT INTO machines (id, app, state) VALUES (?, ?, ?)', params: [`m${id++}`, 'bench', 'started'] }]);
    }
    cluster.runFor(100);
  }
  const restartedAt = cluster.nowMs;
  cluster.restart(victim);
  const caughtUp = (): boolean => cluster.hosts.every((h) => h === victim || victim.node!.store.rangesOf(h.node!.id).covers(1, h.node!.store.head()));
  while (!caughtUp()) {
    cluster.runFor(10);
    if (cluster.nowMs - restartedAt > 120_000) return -1;
  }
  return cluster.nowMs - restartedAt;
}

/** Real processes: write through the HTTP API, observe through a subscription on every node. */
async function realVisibility(nodes: number, writesPerSecond: number, writeMs: number): Promise<{ p50: number; p99: number; writes: number; missing: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'aloft-state-bench-'));
  const procs: NodeProcess[] = [];
  const controllers: AbortController[] = [];
  try {
    procs.push(await startNodeProcess(join(dir, 'n0'), []));
    procs.push(...(await Promise.all(Array.from({ length: nodes - 1 }, (_, i) => startNodeProcess(join(dir, `n${i + 1}`), [procs[0]!.address])))));
    for (let waited = 0; waited < 30_000; waited += 250) {
      const counts = await Promise.all(procs.map(async (p) => ((await (await fetch(`${p.http}/v1/members`)).json()) as Array<{ state: string }>).filter((m) => m.state === 'alive').length));
      if (counts.every((c) => c === nodes)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const sent = new Map<string, number>();
    const seen = new Map<string, number>();
    const latencies: number[] = [];
    for (const p of procs) {
      const controller = new AbortController();
      controllers.push(controller);
      const res = await fetch(`${p.http}/v1/subscriptions`, { method: 'POST', body: JSON.stringify("SELECT id FROM machines WHERE app = 'bench'"), headers: { 'content-type': 'application/json' }, signal: controller.signal });
      const lines = createInterface({ input: (await import('node:stream')).Readable.fromWeb(res.body! as never) });
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { change?: [string, number, [string], number] };
        if (msg.change?.[0] !== 'insert') return;
        const id = msg.change[2][0];
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        if (n === nodes && sent.has(id)) latencies.push(performance.now() - sent.get(id)!);
      });
      lines.on('error', () => {});
    }
    let id = 0;
    const started = performance.now();
    while (performance.now() - started < writeMs) {
      const due = Math.floor(((performance.now() - started) / 1000) * writesPerSecond);
      const batch: Promise<unknown>[] = [];
      while (id < due) {
        const key = `m${id++}`;
        sent.set(key, performance.now());
        batch.push(post(`${procs[id % nodes]!.http}/v1/transactions`, [['INSERT INTO machines (id, app, state) VALUES (?, ?, ?)', [key, 'bench', 'started']]]));
      }
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 5));
    }
    for (let waited = 0; waited < 15_000 && latencies.length < id; waited += 100) await new Promise((r) => setTimeout(r, 100));
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), writes: id, missing: id - latencies.length };
  } finally {
    for (const c of controllers) c.abort();
    await Promise.all(procs.map((p) => stopProcess(p)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const t0 = performance.now();
const sim = simVisibility(64, 1000, 3_000);
console.log(`sim: 64 nodes, 3 regions, 1000 writes/s: visible on all p50 ${sim.p50} ms, p99 ${sim.p99} ms; ${sim.bytesPerNodePerS} bytes/node/s; ${sim.writes} writes, ${sim.missing} not everywhere (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
const t1 = performance.now();
const catchupMs = simCatchup(16, 100, 60_000);
console.log(`sim: node down 60 s (16 nodes, 100 writes/s meanwhile) caught up ${catchupMs} ms after restart (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
const realRate = Number(process.env.BENCH_REAL_WRITES_PER_S ?? 100);
const t2 = performance.now();
const real = await realVisibility(16, realRate, 5_000);
console.log(`real: 16 processes on loopback, ${realRate} writes/s: visible on all p50 ${real.p50} ms, p99 ${real.p99} ms; ${real.writes} writes, ${real.missing} not seen everywhere (${((performance.now() - t2) / 1000).toFixed(0)} s)`);
const result = {
  sim_visible_all_ms: { p50: sim.p50, p99: sim.p99 },
  real_visible_all_ms: { p50: real.p50, p99: real.p99 },
  bytes_per_node_per_s: sim.bytesPerNodePerS,
  catchup_ms: catchupMs,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/state.json', `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
