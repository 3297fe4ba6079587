/**
 * Registry throughput: push and pull a ~200 MiB, 4-layer image with skopeo to Aloft's registry
 * and to Debian's docker-registry (CNCF distribution 2.8) in the same run, on the same disk.
 * Each run starts both registries afresh on empty data dirs (else skopeo's blob-info cache
 * turns later pushes into cross-repository mounts) and pushes then pulls to a fresh
 * destination; the median of `runs` is reported. Aloft runs with its token auth (skopeo does the
 * token dance); docker-registry runs without auth, as Debian ships it.
 *
 *   node bench/registry.ts            writes bench/results/registry.json and prints it
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { systemClock } from '../src/lib/clock.ts';
import { createRegistryServer, mediaTypes, OciLayoutWriter, staticTokenAuth, type PushedBlob } from '../src/registry/index.ts';

const layerCount = 4;
const layerBytes = 50 * 1024 * 1024;
const runs = 5;
const token = 'bench-token';
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
}

/** One push and one pull of the layout through a registry at `host`. */
async function pushPull(host: string, creds: string, layout: string, out: string, timing: Timing): Promise<void> {
  const ref = `docker://${host}/bench/image:v1`;
  const dest = creds === '' ? [] : ['--dest-creds', creds];
  const src = creds === '' ? [] : ['--src-creds', creds];
  timing.push.push(await skopeo(['copy', '--dest-tls-verify=false', ...dest, `oci:${layout}:v1`, ref]));
  timing.pull.push(await skopeo(['copy', '--src-tls-verify=false', ...src, ref, `oci:${out}:v1`]));
  await rm(out, { recursive: true, force: true });
}

async function runAloft(work: string, run: number, layout: string, timing: Timing): Promise<void> {
  const dataDir = join(work, `aloft-${run}`);
  const server = await createRegistryServer({ dataDir, ...staticTokenAuth({ token }) });
  try {
    const url = await server.listen(0, '127.0.0.1');
    await pushPull(url.replace('http://', ''), `x:${token}`, layout, join(work, `pull-aloft-${run}`), timing);
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function runDockerRegistry(work: string, run: number, layout: string, timing: Timing): Promise<void> {
  const dataDir = join(work, `docker-${run}`);
  await mkdir(dataDir);
  const port = await freePort();
  const config = join(work, `docker-registry-${run}.yml`);
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/v2/`, 10_000);
    await pushPull(`127.0.0.1:${port}`, '', layout, join(work, `pull-docker-${run}`), timing);
  } finally {
    child.kill('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function rates(timing: Timing, imageBytes: number): { push_mib_s: number; pull_mib_s: number } {
  const mib = imageBytes / (1024 * 1024);
  const rate = (seconds: number[]): number => Math.round((mib / median(seconds)) * 10) / 10;
  return { push_mib_s: rate(timing.push), pull_mib_s: rate(timing.pull) };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'aloft-bench-registry-'));
  try {
    const layout = join(work, 'layout');
    const imageBytes = await makeImage(layout);
    console.error(`image: ${layerCount} layers, ${(imageBytes / 1024 / 1024).toFixed(1)} MiB`);
    const aloft: Timing = { push: [], pull: [] };
    const docker: Timing = { push: [], pull: [] };
    for (let run = 0; run < runs; run++) {
      // Alternate which goes first, so page-cache and CPU-frequency effects fall on both.
      if (run % 2 === 0) {
        await runAloft(work, run, layout, aloft);
        await runDockerRegistry(work, run, layout, docker);
      } else {
        await runDockerRegistry(work, run, layout, docker);
        await runAloft(work, run, layout, aloft);
      }
    }
    const show = (t: Timing): string => `push ${t.push.map((s) => s.toFixed(2)).join(' ')} s; pull ${t.pull.map((s) => s.toFixed(2)).join(' ')} s`;
    console.error(`aloft: ${show(aloft)}\ndocker-registry: ${show(docker)}`);
    const aloftResult = rates(aloft, imageBytes);
    const dockerResult = rates(docker, imageBytes);
    const result = {
      image_mib: Math.round((imageBytes / 1024 / 1024) * 10) / 10,
      layers: layerCount,
      runs,
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
