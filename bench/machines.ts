/**
 * `npm run bench:machines`: create latency with the image cached, start latency (stopped →
 * running) over many cycles, and platform memory per running machine, on a real local platform.
 * Writes bench/results/machines.json.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { buildExampleImage } from '../src/build/index.ts';
import { requestJson, type Machine } from '../src/lib/index.ts';
import { RegistryClient } from '../src/registry/index.ts';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { percentile } from './stats.ts';

const createCount = Number(process.env.BENCH_CREATES ?? 20);
const startCycles = Number(process.env.BENCH_START_CYCLES ?? 50);
const memoryMachines = Number(process.env.BENCH_MEMORY_MACHINES ?? 16);

// The same platform the tests boot: loopback ports chosen by the OS, a temporary data directory.
const platform = await startTestPlatform();
const { endpoints, dataDir } = platform;
const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
  requestJson<T>(method, `${endpoints.api}${path}`, { token: endpoints.token, ...(body === undefined ? {} : { body }) });

async function waitGone(id: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const list = await call<Machine[]>('GET', '/v1/apps/bench/machines');
    if (!list.some((m) => m.id === id)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`machine ${id} was not destroyed within 30 s`);
}

try {
  const registry = new RegistryClient({ url: endpoints.registry, credentials: { password: endpoints.token } });
  await buildExampleImage(registry, 'personal/bench', 'v1');
  await registry.close();
  await call('POST', '/v1/apps', { app_name: 'bench', org_slug: 'personal' });
  const config = { image: 'bench:v1', restart: { policy: 'no' }, guest: { memory_mb: 256, cpus: 1 } };

  // Warm the image cache once; every create after that is "cached".
  const warm = await call<Machine>('POST', '/v1/apps/bench/machines', { config });
  await call('GET', `/v1/apps/bench/machines/${warm.id}/wait?state=started&timeout=60`);

  const createMs: number[] = [];
  const created: string[] = [warm.id];
  for (let i = 0; i < createCount; i++) {
    const t0 = performance.now();
    const m = await call<Machine>('POST', '/v1/apps/bench/machines', { config });
    await call('GET', `/v1/apps/bench/machines/${m.id}/wait?state=started&timeout=60`);
    createMs.push(performance.now() - t0);
    // Destroyed at once, so capacity never limits how many creates are measured.
    await call('DELETE', `/v1/apps/bench/machines/${m.id}?force=true`);
    await waitGone(m.id);
  }

  const startMs: number[] = [];
  const id = warm.id;
  for (let i = 0; i < startCycles; i++) {
    await call('POST', `/v1/apps/bench/machines/${id}/stop`, { signal: 'SIGKILL' });
    await call('GET', `/v1/apps/bench/machines/${id}/wait?state=stopped&timeout=60`);
    const t0 = performance.now();
    await call('POST', `/v1/apps/bench/machines/${id}/start`, {});
    await call('GET', `/v1/apps/bench/machines/${id}/wait?state=started&timeout=60`);
    startMs.push(performance.now() - t0);
  }

  // Memory: the platform process's growth per extra running machine (machines' own memory excluded).
  for (const m of created) {
    await call('DELETE', `/v1/apps/bench/machines/${m}?force=true`);
    await waitGone(m);
  }
  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const many: string[] = [];
  for (let i = 0; i < memoryMachines; i++) {
    const m = await call<Machine>('POST', '/v1/apps/bench/machines', { config });
    await call('GET', `/v1/apps/bench/machines/${m.id}/wait?state=started&timeout=60`);
    many.push(m.id);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  globalThis.gc?.();
  const rssAfter = process.memoryUsage().rss;
  const mibPerMachine = Math.round(((rssAfter - rssBefore) / memoryMachines / 1024 / 1024) * 100) / 100;
  for (const m of many) await call('DELETE', `/v1/apps/bench/machines/${m}?force=true`);

  const result = {
    driver: endpoints.driver,
    create_cached_ms: { p50: percentile(createMs, 50), p90: percentile(createMs, 90) },
    start_ms: { p50: percentile(startMs, 50), p99: percentile(startMs, 99) },
    platform_mib_per_machine: mibPerMachine,
    samples: { creates: createMs.length, start_cycles: startMs.length, memory_machines: memoryMachines },
    goals: { start_p50_ms: 100, start_p99_ms: 250, create_p90_ms: 1000, platform_mib_per_machine: 3 },
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/machines.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  await new Promise((r) => setTimeout(r, 2_000));
} finally {
  await call('DELETE', '/v1/apps/bench').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 2_000));
  await platform.stop();
  await rm(dataDir, { recursive: true, force: true });
}
