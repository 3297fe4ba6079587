/**
 * `npm run bench:deploy`: the time from `aloft deploy` of a cached image to every machine
 * healthy again, with the rolling strategy (default max_unavailable 0.33), for apps of 1, 4 and
 * 16 machines on a real local platform. Each deploy changes the env, so every machine gets a
 * new instance and must pass its HTTP check. Writes bench/results/deploy.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExampleImage } from '../src/build/index.ts';
import { requestJson, type Machine } from '../src/lib/index.ts';
import { RegistryClient } from '../src/registry/index.ts';
import { runCli } from '../test/helpers/cli.ts';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { percentile } from './stats.ts';

const sizes = [1, 4, 16] as const;
const runsPerSize = Number(process.env.BENCH_DEPLOY_RUNS ?? 3);

const platform = await startTestPlatform();
const { endpoints, dataDir } = platform;
const source = await mkdtemp(join(tmpdir(), 'aloft-bench-deploy-'));
const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
  requestJson<T>(method, `${endpoints.api}${path}`, { token: endpoints.token, ...(body === undefined ? {} : { body }) });
const cli = (args: string[]) => runCli(['--data-dir', dataDir, ...args]);

async function deploy(app: string, greeting: string): Promise<number> {
  await writeFile(
    join(source, 'aloft.toml'),
    `app = '${app}'\n[build]\n  image = 'bench-deploy:v1'\n[env]\n  GREETING = '${greeting}'\n[http_service]\n  internal_port = 8080\n  [[http_service.checks]]\n    grace_period = '0s'\n    interval = '500ms'\n    timeout = '1s'\n    path = '/'\n[[vm]]\n  memory = '256mb'\n`,
  );
  const t0 = performance.now();
  const r = await cli(['deploy', source]);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`deploy of ${app} failed: ${r.stderr}`);
  return ms;
}

const results: Record<string, number> = {};
const samples: Record<string, number[]> = {};
try {
  const registry = new RegistryClient({ url: endpoints.registry, credentials: { password: endpoints.token } });
  await buildExampleImage(registry, 'personal/bench-deploy', 'v1');
  await registry.close();
  for (const size of sizes) {
    const app = `bench-deploy-${size}`;
    await call('POST', '/v1/apps', { app_name: app, org_slug: 'personal' });
    await deploy(app, 'first');
    if (size > 1) {
      const scaled = await cli(['scale', 'count', String(size), '-a', app]);
      if (scaled.code !== 0) throw new Error(`scale of ${app} failed: ${scaled.stderr}`);
    }
    const started = (await call<Machine[]>('GET', `/v1/apps/${app}/machines`)).filter((m) => m.state === 'started');
    if (started.length !== size) throw new Error(`${app} has ${started.length} started machines, wanted ${size}`);
    samples[size] = [];
    for (let run = 0; run < runsPerSize; run++) samples[size]!.push(await deploy(app, `run-${run}`));
    results[size] = Math.round(percentile(samples[size]!, 50));
    console.log(`rolling deploy, ${String(size).padStart(2)} machine(s): p50 ${results[size]} ms over ${runsPerSize} deploys (${samples[size]!.map((ms) => Math.round(ms)).join(', ')} ms)`);
    await call('DELETE', `/v1/apps/${app}`);
  }
  await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
  await writeFile(
    join(import.meta.dirname, 'results', 'deploy.json'),
    `${JSON.stringify({ rolling_ms: { 1: results[1], 4: results[4], 16: results[16] }, samples_ms: samples, runs_per_size: runsPerSize, max_unavailable: 0.33, cores: (await import('node:os')).availableParallelism() }, null, 2)}\n`,
  );
} finally {
  await platform.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(source, { recursive: true, force: true });
}
