/**
 * Measures the oci driver's stopped→running latency over many cycles and what each running
 * machine leaves on the host. Prints the numbers (the platform's goals: p50 ≤ 100 ms,
 * p99 ≤ 250 ms, ≤ 3 MiB of platform memory per running machine) and fails only far off them,
 * so a slow CI machine does not flake.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { skipWithoutOciRuntime } from '../../helpers/root-prerequisites.ts';
import { Harness } from './harness.ts';

const skip = await skipWithoutOciRuntime();
const cycles = 60;
let h: Harness;

before(async () => {
  if (skip === false) h = await Harness.create('oci');
});
after(async () => {
  await h?.dispose();
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function rssKib(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
}

test('oci stopped→running latency and per-machine host memory', { skip }, async (t) => {
  const m = await h.machine(['sleep', '100000']);
  const startMs: number[] = [];
  let initRssKib = 0;
  for (let i = 0; i < cycles; i += 1) {
    const t0 = performance.now();
    const { pid } = await h.driver.start(m.id);
    startMs.push(performance.now() - t0);
    if (i === 0) initRssKib = await rssKib(pid);
    await h.driver.stop(m.id, 'SIGKILL', 5000);
  }
  await h.destroy(m.id);
  assert.deepEqual(await h.leaks(), []);
  const sorted = [...startMs].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const summary = `oci stopped→running over ${cycles} cycles: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms; init RSS ${initRssKib} KiB (the only process of ours per machine)`;
  t.diagnostic(summary);
  console.log(summary);
  assert.ok(p50 < 250, summary);
  assert.ok(initRssKib < 3 * 1024, summary);
});
