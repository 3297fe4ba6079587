/**
 * `npm run bench:proxy`: one small node:http backend, measured with wrk (Debian) directly,
 * through Aloft's edge proxy, and through nginx (Debian) configured as an equivalent reverse
 * proxy with keep-alive upstreams, all on the same cores; then each proxy paced at half of
 * nginx's rate (Poisson arrivals, interleaved rounds) for the latency it adds; then cold start (a stopped real machine → first byte of
 * its answer through autostart) over many trials on a real local platform.
 * Writes bench/results/proxy.json (the figures the issue asks for) and proxy-detail.json (the
 * paced runs, every run's raw figures and the conditions they were measured in).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExampleImage, examplePort } from '../src/build/index.ts';
import { requestJson, silentLogger, type Machine } from '../src/lib/index.ts';
import { EdgeProxy, RouteTable } from '../src/proxy/index.ts';
import { RegistryClient } from '../src/registry/index.ts';
import { startTestPlatform } from '../test/helpers/platform.ts';
import { percentile } from './stats.ts';

const durationS = Number(process.env.BENCH_PROXY_SECONDS ?? 8);
const connections = Number(process.env.BENCH_PROXY_CONNECTIONS ?? 32);
const rounds = Number(process.env.BENCH_PROXY_ROUNDS ?? 3);
const coldTrials = Number(process.env.BENCH_COLD_TRIALS ?? 25);
const host = 'bench.aloft.localhost';

interface WrkResult {
  rps: number;
  p99_ms: number;
  p50_ms: number;
  errors: number;
  /** CPU time the proxy itself spent per request (user + system), when it could be read. */
  proxy_cpu_us_per_request?: number;
}

const work = mkdtempSync(join(tmpdir(), 'aloft-bench-proxy-'));
const children: ChildProcess[] = [];

function stopChildren(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', () => {
  stopChildren();
  rmSync(work, { recursive: true, force: true });
});

/**
 * How each wrk connection waits between its requests in a paced run. `poisson`: pauses drawn
 * from an exponential distribution with that mean, so requests arrive as independent clients'
 * would. `lockstep`: the same pause every time, which keeps the connections in step, so each
 * request queues behind a burst of all of them (kept as a reference figure).
 */
interface Pacing {
  kind: 'poisson' | 'lockstep';
  meanMs: number;
}

/** wrk's Lua hooks: optional pacing per connection, and the figures as one JSON line. */
function wrkScript(pacing: Pacing | undefined): string {
  const path = join(work, `wrk-${pacing === undefined ? 'max' : `${pacing.kind}-${pacing.meanMs}`}.lua`);
  const delay =
    pacing === undefined
      ? ''
      : pacing.kind === 'lockstep'
        ? `function delay() return ${pacing.meanMs} end\n`
        : `math.randomseed(os.time())\nfunction delay() return math.floor(-math.log(1 - math.random()) * ${pacing.meanMs} + 0.5) end\n`;
  writeFileSync(
    path,
    delay +
      `function done(summary, latency, requests)\n` +
      `  local e = summary.errors\n` +
      `  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))\n` +
      `end\n`,
  );
  return path;
}

/** Runs wrk against `port` (in a child process, so this process's event loop can serve the proxy). */
function wrk(port: number, seconds: number, pacing?: Pacing): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '-H', `Host: ${host}`, '-s', wrkScript(pacing), `http://127.0.0.1:${port}/`];
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (line === undefined) return reject(new Error(`wrk printed no result:\n${out}`));
      const r = JSON.parse(line.slice(8)) as { requests: number; duration_us: number; p50_us: number; p99_us: number; errors: number };
      resolve({ rps: Math.round(r.requests / (r.duration_us / 1e6)), p50_ms: r.p50_us / 1000, p99_ms: r.p99_us / 1000, errors: r.errors });
    });
  });
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, headers: { host }, agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing answers on port ${port}`);
}

/** The backend: a small node:http server in its own process, so it never shares an event loop with the proxy. */
async function startBackend(): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const code = `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello from the backend\\n'); }).listen(${port}, '127.0.0.1')`;
  children.push(spawn(process.execPath, ['-e', code], { stdio: 'inherit' }));
  await waitListening(port);
  return port;
}

/** nginx as the equivalent reverse proxy: one worker (the Aloft proxy is one event loop), keep-alive upstream, the same forwarding headers. */
async function startNginx(backendPort: number): Promise<number> {
  const port = backendPort + 1;
  const dir = join(work, 'nginx');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const conf = `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? 'user root;' : ''}
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header Via "1.1 nginx";
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const master = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
  children.push(master);
  nginxMasterPid = master.pid;
  await waitListening(port);
  return port;
}

let nginxMasterPid: number | undefined;

/** CPU microseconds (user + system) nginx's master and workers have used so far, from /proc. */
function nginxCpuUs(): number {
  if (nginxMasterPid === undefined) return Number.NaN;
  const workers = spawnSync('pgrep', ['-P', String(nginxMasterPid)], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
  let ticks = 0;
  for (const pid of [String(nginxMasterPid), ...workers]) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
  }
  return (ticks * 1e6) / clockTicksPerSecond;
}
const clockTicksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The proxy's CPU use over one wrk run: Aloft's is this process's (it serves the proxy and otherwise waits), nginx's from /proc. */
async function measured(name: string, port: number, seconds: number, pacing?: Pacing): Promise<WrkResult> {
  const aloftBefore = process.cpuUsage();
  const nginxBefore = nginxCpuUs();
  const r = await wrk(port, seconds, pacing);
  const requests = r.rps * seconds;
  const cpuUs = name === 'aloft' ? ((u) => u.user + u.system)(process.cpuUsage(aloftBefore)) : name === 'nginx' ? nginxCpuUs() - nginxBefore : Number.NaN;
  if (Number.isFinite(cpuUs) && requests > 0) r.proxy_cpu_us_per_request = Math.round((cpuUs / requests) * 10) / 10;
  return r;
}

async function startAloft(backendPort: number): Promise<{ proxy: EdgeProxy; port: number }> {
  const routes = new RouteTable();
  routes.upsert({
    id: 'bench-backend',
    app: 'bench',
    state: 'started',
    region: 'dev',
    hostId: 'bench',
    address: '127.0.0.1',
    // Limits well above the load, so the proxy's concurrency accounting is exercised but never refuses.
    services: [{ protocol: 'tcp', internal_port: backendPort, ports: [{ port: 80, handlers: ['http'] }], concurrency: { type: 'requests', soft_limit: 1000, hard_limit: 1000 } }],
  });
  const proxy = new EdgeProxy({ routes, domain: 'aloft.localhost', region: 'dev', logger: silentLogger(), listenPortFor: () => undefined });
  const url = await proxy.listen(0, '127.0.0.1');
  return { proxy, port: Number(new URL(url).port) };
}

async function throughput(targets: Record<'direct' | 'aloft' | 'nginx', number>): Promise<Record<string, WrkResult[]>> {
  const runs: Record<string, WrkResult[]> = { direct: [], aloft: [], nginx: [] };
  for (const port of Object.values(targets)) await wrk(port, 2); // warm-up (JIT, pools)
  // Interleaved rounds: the host's other load drifts, and each target should meet the same drift.
  for (let round = 0; round < rounds; round++) {
    for (const [name, port] of Object.entries(targets)) {
      const r = await measured(name, port, durationS);
      runs[name]!.push(r);
      const cpu = r.proxy_cpu_us_per_request === undefined ? '' : `  proxy CPU ${r.proxy_cpu_us_per_request} µs/request`;
      console.log(`  round ${round + 1} ${name.padEnd(6)} ${String(r.rps).padStart(7)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  errors ${r.errors}${cpu}`);
    }
  }
  return runs;
}

/** The middle value (the lower of the middle two for an even count), unrounded. */
function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
}

/** The run with the median rate (of an odd count) or the better of the middle two. */
function representative(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function coldStart(): Promise<number[]> {
  const platform = await startTestPlatform();
  const { endpoints } = platform;
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    requestJson<T>(method, `${endpoints.api}${path}`, { token: endpoints.token, ...(body === undefined ? {} : { body }) });
  try {
    const registry = new RegistryClient({ url: endpoints.registry, credentials: { password: endpoints.token } });
    await buildExampleImage(registry, 'personal/cold', 'v1');
    await registry.close();
    await call('POST', '/v1/apps', { app_name: 'cold', org_slug: 'personal' });
    const services = [{ protocol: 'tcp', internal_port: examplePort, ports: [{ port: 80, handlers: ['http'] }], autostart: true, autostop: 'stop' }];
    const m = await call<Machine>('POST', '/v1/apps/cold/machines', { config: { image: 'cold:v1', services, restart: { policy: 'no' } } });
    await call('GET', `/v1/apps/cold/machines/${m.id}/wait?state=started&timeout=60`);
    const proxyPort = Number(new URL(endpoints.proxy).port);
    const samples: number[] = [];
    for (let i = 0; i < coldTrials; i++) {
      const { instance_id } = await call<Machine>('GET', `/v1/apps/cold/machines/${m.id}`);
      await call('POST', `/v1/apps/cold/machines/${m.id}/stop`, {});
      await call('GET', `/v1/apps/cold/machines/${m.id}/wait?state=stopped&timeout=30&instance_id=${instance_id}`);
      // The proxy learns 'stopped' from the host's feed a moment after the agent reports it.
      await new Promise((r) => setTimeout(r, 300));
      samples.push(await firstByteMs(proxyPort, 'cold.aloft.localhost'));
    }
    await call('DELETE', `/v1/apps/cold/machines/${m.id}?force=true`);
    // Destroyed before the platform stops, so nothing (mounts, namespaces) is left behind.
    for (let i = 0; i < 600 && (platform.platform.agent?.service.list().length ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    return samples;
  } finally {
    await platform.stop();
    await rm(platform.dataDir, { recursive: true, force: true });
  }
}

function firstByteMs(port: number, hostHeader: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, headers: { host: hostHeader }, agent: false }, (res) => {
      const ms = performance.now() - started;
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(ms) : reject(new Error(`cold request answered ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const tool of ['wrk', 'nginx']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:proxy needs ${tool} (scripts/debian-packages.txt; run scripts/setup.sh as root)`);
    process.exit(2);
  }
}

const load = loadavg()[0]!.toFixed(2);
console.log(`bench:proxy — ${availableParallelism()} CPUs (shared with other work; 1-minute load ${load} at start), wrk 1 thread × ${connections} connections × ${durationS} s, ${rounds} interleaved rounds`);
const backendPort = await startBackend();
const nginxPort = await startNginx(backendPort);
const aloft = await startAloft(backendPort);
let result: Record<string, unknown>;
let detail: Record<string, unknown>;
try {
  const runs = await throughput({ direct: backendPort, aloft: aloft.port, nginx: nginxPort });
  const direct = representative(runs.direct!);
  const viaAloft = representative(runs.aloft!);
  const viaNginx = representative(runs.nginx!);

  // Latency added at half of nginx's rate: each connection paced so all together ask that rate,
  // over interleaved rounds like the rates (one round's p99 is mostly the host's noise).
  const halfRate = Math.max(1, Math.round(viaNginx.rps / 2));
  // Unrounded for the random pauses (wrk rounds each drawn pause to a whole ms); the lock-step round needs whole ms.
  const meanMs = Math.round(((connections * 1000) / halfRate) * 100) / 100;
  const targets = { direct: backendPort, aloft: aloft.port, nginx: nginxPort };
  console.log(`  paced at ~${halfRate} req/s (${connections} connections, random pauses of ${meanMs} ms on average: Poisson arrivals), ${rounds} interleaved rounds:`);
  const pacedRuns: Record<string, WrkResult[]> = { direct: [], aloft: [], nginx: [] };
  const addedPerRound: Record<'aloft' | 'nginx', number[]> = { aloft: [], nginx: [] };
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    for (const [name, port] of Object.entries(targets)) {
      const r = await measured(name, port, durationS, { kind: 'poisson', meanMs });
      pacedRuns[name]!.push(r);
      line.push(`${name} ${r.rps} req/s p99 ${r.p99_ms.toFixed(2)} ms`);
    }
    const p99 = (name: string): number => pacedRuns[name]![round]!.p99_ms;
    addedPerRound.aloft.push(p99('aloft') - p99('direct'));
    addedPerRound.nginx.push(p99('nginx') - p99('direct'));
    console.log(`    round ${round + 1}: ${line.join(' | ')}`);
  }
  console.log(`  the same rate with equal pauses (connections in lock-step, each request behind a burst of ${connections}), one round:`);
  const lockstep: Record<string, WrkResult> = {};
  for (const [name, port] of Object.entries(targets)) {
    lockstep[name] = await measured(name, port, durationS, { kind: 'lockstep', meanMs: Math.max(1, Math.round(meanMs)) });
    console.log(`    ${name.padEnd(6)} ${String(lockstep[name]!.rps).padStart(7)} req/s  p99 ${lockstep[name]!.p99_ms.toFixed(2)} ms`);
  }

  console.log(`  cold start: ${coldTrials} trials on a real machine (stopped → first byte through autostart)…`);
  const cold = await coldStart();
  const round2 = (n: number): number => Math.round(n * 100) / 100;
  result = {
    direct: { rps: direct.rps, p99_ms: round2(direct.p99_ms) },
    aloft: { rps: viaAloft.rps, p99_ms: round2(viaAloft.p99_ms) },
    nginx: { rps: viaNginx.rps, p99_ms: round2(viaNginx.p99_ms) },
    ratio_vs_nginx: round2(viaAloft.rps / viaNginx.rps),
    added_p99_ms_at_half_nginx_rate: { aloft: round2(median(addedPerRound.aloft)), nginx: round2(median(addedPerRound.nginx)) },
    cold_start_ms: { p50: percentile(cold, 50), p99: percentile(cold, 99) },
  };
  detail = {
    conditions: `${availableParallelism()} CPU cores shared with other engineers' builds and tests while measured (1-minute load ${load} at start); wrk, backend, nginx (1 worker) and the Aloft proxy (one event loop) all on those cores`,
    wrk: { threads: 1, connections, duration_s: durationS, rounds },
    runs,
    half_nginx_rate: {
      target_rps: halfRate,
      pacing: `Poisson arrivals: each connection pauses a random time with mean ${meanMs} ms between requests`,
      runs: pacedRuns,
      // Each round's proxy p99 less the direct p99 of the same round; the median round is reported.
      added_p99_ms_per_round: { aloft: addedPerRound.aloft.map(round2), nginx: addedPerRound.nginx.map(round2) },
      aloft_added_p99_ms: round2(median(addedPerRound.aloft)),
      nginx_added_p99_ms: round2(median(addedPerRound.nginx)),
      lockstep: {
        pacing: `every connection pauses exactly ${Math.max(1, Math.round(meanMs))} ms, so all ${connections} move in step`,
        runs: lockstep,
        aloft_added_p99_ms: round2(lockstep.aloft!.p99_ms - lockstep.direct!.p99_ms),
        nginx_added_p99_ms: round2(lockstep.nginx!.p99_ms - lockstep.direct!.p99_ms),
      },
    },
    cold_start_samples_ms: cold.map(round2),
    // Wall-clock rates swing with the other work on these cores; CPU per request does much less.
    proxy_cpu_us_per_request_median: {
      aloft: percentile(runs.aloft!.map((r) => r.proxy_cpu_us_per_request ?? Number.NaN), 50),
      nginx: percentile(runs.nginx!.map((r) => r.proxy_cpu_us_per_request ?? Number.NaN), 50),
    },
    goals: { ratio_vs_nginx: '>= 0.6', added_p99_ms_at_half_nginx_rate: '<= 1', cold_start_p50_ms: '<= 300' },
  };
} finally {
  await aloft.proxy.close();
  stopChildren();
}

await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/proxy.json', `${JSON.stringify(result, null, 2)}\n`);
await writeFile('bench/results/proxy-detail.json', `${JSON.stringify(detail, null, 2)}\n`);
console.log(JSON.stringify(result));
const perRound = (detail.half_nginx_rate as { added_p99_ms_per_round: Record<string, number[]> }).added_p99_ms_per_round;
console.log(`added p99 at half of nginx's rate (median round; all rounds): aloft ${String((detail.half_nginx_rate as { aloft_added_p99_ms: number }).aloft_added_p99_ms)} ms (${perRound.aloft!.join(', ')}), nginx ${String((detail.half_nginx_rate as { nginx_added_p99_ms: number }).nginx_added_p99_ms)} ms (${perRound.nginx!.join(', ')})`);
console.log('wrote bench/results/proxy.json and bench/results/proxy-detail.json (cores were shared while measuring)');
process.exit(0);
