import { randomInt, seededRandom, type Random } from '../random.ts';
import { loadSchemaFile } from '../schema/schema.ts';
import { SimCluster, type SimHost } from './cluster.ts';

/** The fault mix of one run, all derived from its seed so the seed alone replays it. */
export interface FaultPlan {
  nodes: number;
  regions: number;
  lossRate: number;
  duplicateRate: number;
  jitterFraction: number;
  partitions: boolean;
  crashes: boolean;
  hostilePackets: boolean;
  writesPerSecond: number;
}

export interface SimResult {
  seed: number;
  plan: FaultPlan;
  violations: string[];
  /** Virtual ms from the end of faults until every invariant held; null if never. */
  convergedAfterMs: number | null;
  writes: number;
}

/** Length of the fault phase and the bound within which the cluster must converge after it. */
export const faultPhaseMs = 12_000;
export const convergenceBoundMs = 30_000;
const checkEveryMs = 250;
const regionNames = ['ams', 'iad', 'syd'];
const regionRttMs: Record<string, number> = { 'ams-iad': 80, 'ams-syd': 150, 'iad-syd': 150 };

export function rttBetween(a: string, b: string): number {
  if (a === b) return 2;
  return regionRttMs[[a, b].sort().join('-')] ?? 150;
}

export function planFor(seed: number): FaultPlan {
  const r = seededRandom(seed ^ 0x0f0f0f);
  return {
    nodes: 3 + randomInt(r, 5),
    regions: 1 + randomInt(r, 3),
    lossRate: r.next() < 0.3 ? 0 : r.next() * 0.2,
    duplicateRate: r.next() * 0.1,
    jitterFraction: r.next() * 0.5,
    partitions: r.next() < 0.5,
    crashes: r.next() < 0.5,
    hostilePackets: r.next() < 0.3,
    writesPerSecond: 5 + randomInt(r, 40),
  };
}

/**
 * Rows of `machines` are owned by one writer each (as an agent owns its host's machines), so
 * the last acknowledged write of its owner is the only correct final value. The row `hosts`
 * 'shared' is written by everyone concurrently and checked only for agreement.
 */
interface Ledger {
  /** Machine id → expected final `state` (null when deleted). */
  expected: Map<string, string | null>;
  owned: Map<string, string[]>;
  nextId: number;
  writes: number;
}

/** Runs one seed: a fault phase with writes, then healing and a bounded wait for convergence. */
export function runSeed(seed: number): SimResult {
  const plan = planFor(seed);
  const regions = regionNames.slice(0, plan.regions);
  const cluster = new SimCluster({ seed, regions, nodes: plan.nodes, rttMs: rttBetween, schema: loadSchemaFile() });
  const r = seededRandom(seed ^ 0x77777);
  const ledger: Ledger = { expected: new Map(), owned: new Map(), nextId: 0, writes: 0 };
  const violations: string[] = [];
  Object.assign(cluster.network.faults, { lossRate: plan.lossRate, duplicateRate: plan.duplicateRate, jitterFraction: plan.jitterFraction });

  cluster.runFor(2_000); // let the cluster form before faults begin
  const stepMs = 50;
  for (let t = 0; t < faultPhaseMs; t += stepMs) {
    writeSome(cluster, r, ledger, (plan.writesPerSecond * stepMs) / 1000, violations);
    injectFaults(cluster, r, plan);
    cluster.runFor(stepMs);
  }
  heal(cluster);
  let convergedAfterMs: number | null = null;
  for (let waited = 0; waited <= convergenceBoundMs; waited += checkEveryMs) {
    if (check(cluster, ledger).length === 0) {
      convergedAfterMs = waited;
      break;
    }
    cluster.runFor(checkEveryMs);
  }
  if (convergedAfterMs === null) violations.push(...check(cluster, ledger));
  for (const h of cluster.hosts) h.node?.stop();
  for (const h of cluster.hosts) h.node?.store.close();
  return { seed, plan, violations, convergedAfterMs, writes: ledger.writes };
}

function writeSome(cluster: SimCluster, r: Random, ledger: Ledger, expectedCount: number, violations: string[]): void {
  let n = Math.floor(expectedCount) + (r.next() < expectedCount % 1 ? 1 : 0);
  const live = cluster.live();
  while (n-- > 0 && live.length > 0) {
    const host = live[randomInt(r, live.length)]!;
    try {
      writeOne(host, r, ledger);
    } catch (err) {
      violations.push(`write on ${host.addr} failed: ${(err as Error).message}`);
    }
  }
}

function writeOne(host: SimHost, r: Random, ledger: Ledger): void {
  const node = host.node!;
  const mine = ledger.owned.get(host.addr) ?? [];
  ledger.owned.set(host.addr, mine);
  const roll = r.next();
  ledger.writes++;
  if (roll < 0.4 || mine.length === 0) {
    const id = `m${ledger.nextId++}`;
    const state = `s${randomInt(r, 1000)}`;
    node.transaction([{ sql: 'INSERT INTO machines (id, app, host_id, state) VALUES (?, ?, ?, ?)', params: [id, 'app', host.addr, state] }]);
    mine.push(id);
    ledger.expected.set(id, state);
  } else if (roll < 0.75) {
    const id = mine[randomInt(r, mine.length)]!;
    const state = `s${randomInt(r, 1000)}`;
    node.transaction([{ sql: 'UPDATE machines SET state = ?, updated_at = updated_at + 1 WHERE id = ?', params: [state, id] }]);
    ledger.expected.set(id, state);
  } else if (roll < 0.85) {
    const id = mine.splice(randomInt(r, mine.length), 1)[0]!;
    node.transaction([{ sql: 'DELETE FROM machines WHERE id = ?', params: [id] }]);
    ledger.expected.set(id, null);
  } else {
    node.transaction([
      {
        sql: "INSERT INTO hosts (id, cpus, state) VALUES ('shared', ?, ?) ON CONFLICT (id) DO UPDATE SET cpus = excluded.cpus, state = excluded.state",
        params: [randomInt(r, 64), host.addr],
      },
    ]);
  }
}

function injectFaults(cluster: SimCluster, r: Random, plan: FaultPlan): void {
  if (plan.partitions && r.next() < 0.01) {
    if (r.next() < 0.5) cluster.network.partition(null);
    else cluster.network.partition(new Map(cluster.hosts.map((h) => [h.addr, randomInt(r, 2)])));
  }
  if (plan.crashes && r.next() < 0.01) {
    const host = cluster.hosts[randomInt(r, cluster.hosts.length)]!;
    if (host.node !== null && cluster.live().length > 1) cluster.crash(host);
    else cluster.restart(host);
  }
  if (plan.hostilePackets && r.next() < 0.1) {
    const target = cluster.hosts[randomInt(r, cluster.hosts.length)]!;
    const junk = new Uint8Array(1 + randomInt(r, 200)).map(() => randomInt(r, 256));
    if (r.next() < 0.3) junk[0] = 1; // right version byte, wrong tag
    cluster.network.send('stranger', target.addr, junk);
  }
}

function heal(cluster: SimCluster): void {
  cluster.network.partition(null);
  Object.assign(cluster.network.faults, { lossRate: 0, duplicateRate: 0 });
  for (const h of cluster.hosts) cluster.restart(h);
}

const dump = (host: SimHost): string =>
  JSON.stringify([host.node!.store.prepareQuery('SELECT * FROM machines ORDER BY id').all(), host.node!.store.prepareQuery('SELECT * FROM hosts ORDER BY id').all()]);

/** Every invariant that must hold once faults stop; returns what does not hold. */
export function check(cluster: SimCluster, ledger: Ledger): string[] {
  const out: string[] = [];
  const live = cluster.live();
  const first = live[0]!;
  const reference = dump(first);
  for (const h of live.slice(1)) {
    if (dump(h) !== reference) out.push(`contents of ${h.addr} differ from ${first.addr}`);
  }
  const states = new Map(
    (first.node!.store.prepareQuery('SELECT id, state FROM machines').all() as Array<{ id: string; state: string }>).map((m) => [m.id, m.state]),
  );
  for (const [id, expected] of ledger.expected) {
    const actual = states.get(id) ?? null;
    if (expected === null && actual !== null) out.push(`deleted machine ${id} is back on ${first.addr} with state ${actual}`);
    else if (expected !== null && actual !== expected) out.push(`acknowledged write lost: ${id} should be ${expected}, is ${actual} on ${first.addr}`);
  }
  const liveIds = new Set(live.map((h) => h.node!.id));
  for (const h of live) {
    const alive = new Set(h.node!.members().filter((m) => m.state === 'alive').map((m) => m.id));
    if (alive.size !== liveIds.size || [...liveIds].some((id) => !alive.has(id))) {
      out.push(`membership of ${h.addr} disagrees: sees ${alive.size} alive of ${liveIds.size} live`);
    }
  }
  return out;
}
