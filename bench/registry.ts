/**
 * Registry throughput: push and pull a ~200 MiB, 4-layer image with skopeo to Aloft's registry
 * and to Debian's docker-registry (CNCF distribution 2.8) in the same run, on the same disk.
 * Each run starts both registries afresh on empty data dirs (else skopeo's blob-info cache
 * turns later pushes into cross-repository mounts), pushes to each, then pulls from them in
 * turn `pullsPerRun` times to fresh destinations; medians over all runs are reported. The
 * host may be shared and loaded, so samples of the two registries are taken close together and
 * in alternating order, and each registry's own CPU time per push and per pull is reported too:
 * it is far less sensitive to other load than wall time. Aloft runs with its token auth (skopeo
 * does the token dance); docker-registry runs without auth, as Debian ships it.
 *
 *   node bench/registry.ts            writes bench/results/registry.json and prints it
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { systemClock } from '../src/lib/clock.ts';
import { createRegistryServer, mediaTypes, OciLayoutWriter, tokenAuth, type PushedBlob } from '../src/registry/index.ts';
import { Keyring, mintToken, RevocationList } from '../src/tokens/index.ts';

const layerCount = 4;
const layerBytes = 50 * 1024 * 1024;
const runs = 5;
/** Pulls from each registry per run, interleaved: more samples for the noisier, shorter measurement. */
const pullsPerRun = 3;
/** Linux's USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on every common build). */
const procTicksPerS = 100;
const keyring = new Keyring(systemClock);
keyring.rotate();
const token = mintToken({ keyring, org: 'bench' });
const execFileAsync = promisify(execFile);

async function skopeo(args: string[]): Promise<number> {
  const started = systemClock.monotonicMs();
  await execFileAsync('skopeo', args, { maxBuffer: 16 * 1024 * 1024 });
  return (systemClock.monotonicMs() - started) / 1000;
}

/** An OCI layout with `layerCount` gzip layers of random (incompressible) data. */
async function makeImage(dir: string): Promise<number> {
  const writer = new OciLayoutWriter(dir);
  const layers: PushedBlob[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < layerCount; i++) {
    const pack = tar.pack();
    pack.entry({ name: `data-${i}.bin` }, randomBytes(layerBytes));
    pack.finalize();
    const gz = Readable.from(pack as AsyncIterable<Buffer>).pipe(createGzip({ level: 1 }));
    layers.push(await writer.pushBlob('bench/image', gz));
    diffIds.push(`sha256:${'0'.repeat(64)}`);
  }
  const config = await writer.pushBlob('bench/image', Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } })));
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: config.digest, size: config.sizeBytes },
    layers: layers.map((l) => ({ mediaType: mediaTypes.ociLayerGzip, digest: l.digest, size: l.sizeBytes })),
  };
  await writer.pushManifest('bench/image', 'v1', mediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
  return layers.reduce((sum, l) => sum + l.sizeBytes, config.sizeBytes);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = systemClock.monotonicMs() + timeoutMs;
  while (systemClock.monotonicMs() < deadline) {
    if (await fetch(url).then(() => true, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

interface Timing {
  push: number[];
  pull: number[];
  /** The registry's own CPU seconds per push and per pull. */
  pushCpuS: number[];
  pullCpuS: number[];
}

/** A running registry under test. */
interface Target {
  name: string;
  host: string;
  /** skopeo's user:password, or '' for none. */
  creds: string;
  timing: Timing;
  /** CPU seconds the registry process has used so far. */
  cpuS(): Promise<number>;
  stop(): Promise<void>;
}

async function push(target: Target, layout: string): Promise<void> {
  const creds = target.creds === '' ? [] : ['--dest-creds', target.creds];
  const cpuBeforeS = await target.cpuS();
  target.timing.push.push(await skopeo(['copy', '--dest-tls-verify=false', ...creds, `oci:${layout}:v1`, `docker://${target.host}/bench/image:v1`]));
  target.timing.pushCpuS.push((await target.cpuS()) - cpuBeforeS);
}

async function pull(target: Target, out: string): Promise<void> {
  const creds = target.creds === '' ? [] : ['--src-creds', target.creds];
  const cpuBeforeS = await target.cpuS();
  target.timing.pull.push(await skopeo(['copy', '--src-tls-verify=false', ...creds, `docker://${target.host}/bench/image:v1`, `oci:${out}:v1`]));
  target.timing.pullCpuS.push((await target.cpuS()) - cpuBeforeS);
  await rm(out, { recursive: true, force: true });
}

/** Aloft in this process; its CPU time includes the bench's own (small: it only waits on skopeo). */
async function startAloft(dataDir: string, timing: Timing): Promise<Target> {
  const server = await createRegistryServer({ dataDir, ...tokenAuth({ keyring, revocations: new RevocationList(), clock: systemClock }) });
  const url = await server.listen(0, '127.0.0.1');
  return {
    name: 'aloft',
    host: url.replace('http://', ''),
    creds: `x:${token}`,
    timing,
    cpuS: async () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    },
    async stop() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function startDockerRegistry(dataDir: string, timing: Timing): Promise<Target> {
  await mkdir(dataDir);
  const port = await freePort();
  const config = `${dataDir}.yml`;
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: 'docker-registry',
    host: `127.0.0.1:${port}`,
    creds: '',
    timing,
    cpuS: async () => {
      // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
      const fields = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / procTicksPerS;
    },
    stop,
  };
}

/** One run: both registries fresh, a push to each, then `pullsPerRun` pulls from each, alternating who goes first. */
async function runOnce(work: string, run: number, layout: string, aloft: Timing, docker: Timing): Promise<void> {
  const targets: Target[] = [];
  try {
    targets.push(await startAloft(join(work, `aloft-${run}`), aloft));
    targets.push(await startDockerRegistry(join(work, `docker-${run}`), docker));
    // Alternate which goes first, so page-cache and CPU-frequency effects fall on both.
    const order = (i: number): Target[] => ((run + i) % 2 === 0 ? targets : [...targets].reverse());
    for (const target of order(0)) await push(target, layout);
    for (let i = 0; i < pullsPerRun; i++) {
      for (const target of order(i)) await pull(target, join(work, `pull-${target.name}-${run}`));
    }
  } finally {
    for (const target of targets) await target.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function rates(timing: Timing, imageBytes: number): { push_mib_s: number; pull_mib_s: number; push_server_cpu_s: number; pull_server_cpu_s: number } {
  const mib = imageBytes / (1024 * 1024);
  const rate = (seconds: number[]): number => Math.round((mib / median(seconds)) * 10) / 10;
  const cpu = (seconds: number[]): number => Math.round(median(seconds) * 1000) / 1000;
  return { push_mib_s: rate(timing.push), pull_mib_s: rate(timing.pull), push_server_cpu_s: cpu(timing.pushCpuS), pull_server_cpu_s: cpu(timing.pullCpuS) };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'aloft-bench-registry-'));
  try {
    const layout = join(work, 'layout');
    const imageBytes = await makeImage(layout);
    console.error(`image: ${layerCount} layers, ${(imageBytes / 1024 / 1024).toFixed(1)} MiB`);
    const aloft: Timing = { push: [], pull: [], pushCpuS: [], pullCpuS: [] };
    const docker: Timing = { push: [], pull: [], pushCpuS: [], pullCpuS: [] };
    for (let run = 0; run < runs; run++) await runOnce(work, run, layout, aloft, docker);
    const show = (t: Timing): string =>
      `push ${t.push.map((s) => s.toFixed(2)).join(' ')} s (server CPU ${t.pushCpuS.map((s) => s.toFixed(2)).join(' ')} s); pull ${t.pull.map((s) => s.toFixed(2)).join(' ')} s`;
    console.error(`aloft: ${show(aloft)}\ndocker-registry: ${show(docker)}`);
    const aloftResult = rates(aloft, imageBytes);
    const dockerResult = rates(docker, imageBytes);
    const result = {
      image_mib: Math.round((imageBytes / 1024 / 1024) * 10) / 10,
      layers: layerCount,
      runs,
      pulls_per_run: pullsPerRun,
      aloft: aloftResult,
      docker_registry: dockerResult,
      ratio: {
        push: Math.round((aloftResult.push_mib_s / dockerResult.push_mib_s) * 100) / 100,
        pull: Math.round((aloftResult.pull_mib_s / dockerResult.pull_mib_s) * 100) / 100,
      },
    };
    await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
    await writeFile(join(import.meta.dirname, 'results', 'registry.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
