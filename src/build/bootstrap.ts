/**
 * Base images without any public container registry: `debian:bookworm` from debootstrap
 * (minbase, from the mirror apt uses here) and `node:24` on top of it, both pushed to the
 * organization's repositories on the Aloft registry.
 *
 * Node.js 24 is the binary the project already runs on (the `node` npm package, the official
 * build): it is an LTS line (maintenance until April 2028), needs no download, and is the
 * version Aloft itself is tested with. Debian bookworm's `nodejs` is 18, past its end of life.
 * npm (which the binary package lacks) comes from the npm registry as npm 11, the major Node 24
 * ships with; both downloads are cached.
 *
 * The debootstrap result is cached as a tarball per suite and architecture, so only the first
 * bootstrap on a machine downloads Debian (about 30 s on our hosts).
 */
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { AloftError, PlatformError, systemClock } from '../lib/index.ts';
import { buildImage, type BuildProgress, type BuiltImage, type RegistryTarget } from './build-image.ts';
import { debianMirror } from './debian-mirror.ts';
import { defaultCacheDir, pathExists } from './paths.ts';
import { runStreaming } from './run-streaming.ts';

export const debianSuite = 'bookworm';
const npmMajor = 11;

export type BootstrapProgress = BuildProgress | { kind: 'phase'; text: string };

export interface BootstrapOptions {
  registry: RegistryTarget;
  /** The platform's data directory (build storage). */
  dataDir: string;
  org?: string;
  /** Defaults to `defaultCacheDir()`. */
  cacheDir?: string;
  onProgress?: (event: BootstrapProgress) => void;
}

export interface BootstrapResult {
  debian: BuiltImage;
  node: BuiltImage;
  /** Whether debootstrap ran (false: its cached result was used). */
  debootstrapped: boolean;
  /** Wall time of each phase. */
  timingsMs: { debootstrap: number; debian: number; node: number };
}

/** The Debian architecture of this machine. */
export function debianArch(): string {
  const arches: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'i386', ppc64: 'ppc64el', s390x: 's390x' };
  const arch = arches[process.arch];
  if (arch === undefined) throw new PlatformError('unsupported_arch', `no Debian architecture known for ${process.arch}`);
  return arch;
}

/** Makes and pushes `<org>/debian:bookworm` and `<org>/node:24`. Needs root (debootstrap). */
export async function bootstrapDebian(options: BootstrapOptions): Promise<BootstrapResult> {
  const onProgress = options.onProgress ?? (() => undefined);
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  const dataDir = resolve(options.dataDir);
  const build = { registry: options.registry, dataDir, onProgress, ...(options.org === undefined ? {} : { org: options.org }) };
  const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const started = systemClock.monotonicMs();
    const value = await work();
    return [value, Math.round(systemClock.monotonicMs() - started)];
  };

  const [{ tarball, debootstrapped }, debootstrapMs] = await timed(() => debootstrapTarball(cacheDir, onProgress));
  await mkdir(join(dataDir, 'build', 'tmp'), { recursive: true });
  const work = await mkdtemp(join(dataDir, 'build', 'tmp', 'bootstrap-'));
  try {
    onProgress({ kind: 'phase', text: `building debian:${debianSuite}` });
    const debianDockerfile = join(work, 'Dockerfile.debian');
    await writeFile(debianDockerfile, `FROM scratch\nADD ${tarballName(debianArch())} /\nENV LANG=C.UTF-8\nCMD ["bash"]\n`);
    const [debian, debianMs] = await timed(() => buildImage({ ...build, dir: dirname(tarball), dockerfile: debianDockerfile, image: `debian:${debianSuite}` }));

    onProgress({ kind: 'phase', text: 'building node:24' });
    const context = join(work, 'node');
    await mkdir(context);
    const nodeVersion = await placeNodeBinary(join(context, 'node'));
    await copyFile(await npmTarball(cacheDir, onProgress), join(context, 'npm.tgz'));
    await writeFile(join(context, 'Dockerfile'), nodeDockerfile(nodeVersion));
    const [node, nodeMs] = await timed(() => buildImage({ ...build, dir: context, image: `node:${nodeVersion.split('.')[0]!}` }));
    return { debian, node, debootstrapped, timingsMs: { debootstrap: debootstrapMs, debian: debianMs, node: nodeMs } };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function tarballName(arch: string): string {
  return `${debianSuite}-${arch}.tar`;
}

function nodeDockerfile(version: string): string {
  const lib = '/usr/local/lib/node_modules';
  return [
    `FROM debian:${debianSuite}`,
    'COPY node /usr/local/bin/node',
    'ADD npm.tgz /usr/local/lib/',
    // The npm tarball unpacks as `package/`; link its launchers as the official images do, and
    // prove both run on this Debian before the image is pushed.
    `RUN mkdir -p ${lib} && mv /usr/local/lib/package ${lib}/npm && ln -s ${lib}/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ${lib}/npm/bin/npx-cli.js /usr/local/bin/npx && node --version && npm --version`,
    `ENV NODE_VERSION=${version}`,
    'CMD ["node"]',
    '',
  ].join('\n');
}

/**
 * The cached debootstrap root filesystem as a tarball, made first if missing. Device nodes are
 * left out (the runtime gives every machine its own /dev). Written under a temp name and renamed,
 * so a concurrent or interrupted bootstrap never leaves a partial tarball in the cache.
 */
async function debootstrapTarball(cacheDir: string, onProgress: (event: BootstrapProgress) => void): Promise<{ tarball: string; debootstrapped: boolean }> {
  const dir = join(cacheDir, 'debootstrap');
  const tarball = join(dir, tarballName(debianArch()));
  if (await pathExists(tarball)) {
    onProgress({ kind: 'phase', text: `using the cached Debian ${debianSuite} root filesystem (${tarball})` });
    return { tarball, debootstrapped: false };
  }
  if (process.getuid?.() !== 0) {
    throw new AloftError('needs_root', 'user', 'debootstrap needs root to make the Debian root filesystem', { hint: 'run `aloft images bootstrap debian` as root (sudo)' });
  }
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, 'work-'));
  try {
    const mirror = await debianMirror(debianSuite);
    onProgress({ kind: 'phase', text: `debootstrap --variant=minbase ${debianSuite} from ${mirror}` });
    const rootfs = join(work, 'root');
    const onLine = (line: string): void => onProgress({ kind: 'output', line });
    const strap = await runStreaming('debootstrap', ['--variant=minbase', `--arch=${debianArch()}`, debianSuite, rootfs, mirror], { onLine, installHint: 'apt-get install debootstrap' });
    if (strap.exitCode !== 0) {
      throw new PlatformError('debootstrap_failed', `debootstrap of ${debianSuite} from ${mirror} failed (exit ${strap.exitCode})`, {
        details: { log_tail: strap.tail },
        hint: `check that ${mirror} is reachable (it is the mirror in /etc/apt/sources.list*)`,
      });
    }
    await rm(join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    await mkdir(join(rootfs, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
    const partial = join(work, 'rootfs.tar');
    const tar = await runStreaming('tar', ['--numeric-owner', '--xattrs', '--exclude=./dev/*', '-C', rootfs, '-cf', partial, '.'], { onLine, installHint: 'apt-get install tar' });
    if (tar.exitCode !== 0) throw new PlatformError('tar_failed', `packing the Debian root filesystem failed (exit ${tar.exitCode})`, { details: { log_tail: tar.tail } });
    await rename(partial, tarball);
    return { tarball, debootstrapped: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Puts the project's own Node.js binary at `dest` (a hard link where possible); resolves with its version. */
async function placeNodeBinary(dest: string): Promise<string> {
  const pkgPath = createRequire(import.meta.url).resolve('node/package.json');
  const { version } = JSON.parse(await readFile(pkgPath, 'utf8')) as { version: string };
  const binary = join(dirname(pkgPath), 'bin', 'node');
  await link(binary, dest).catch(() => copyFile(binary, dest));
  return version;
}

/** The npm tarball (npm `npmMajor`), fetched once with `npm pack` into the cache. */
async function npmTarball(cacheDir: string, onProgress: (event: BootstrapProgress) => void): Promise<string> {
  const dir = join(cacheDir, 'npm');
  const cached = async (): Promise<string | undefined> => (await readdir(dir).catch(() => [] as string[])).find((n) => n.startsWith(`npm-${npmMajor}.`) && n.endsWith('.tgz'));
  const hit = await cached();
  if (hit !== undefined) return join(dir, hit);
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, 'work-'));
  try {
    onProgress({ kind: 'phase', text: `npm pack npm@${npmMajor}` });
    const packed = await runStreaming('npm', ['pack', `npm@${npmMajor}`, '--pack-destination', work, '--silent'], { cwd: work, installHint: 'install npm (it comes with Node.js)' });
    const name = packed.tail.find((l) => /^npm-.*\.tgz$/.test(l.trim()))?.trim();
    if (packed.exitCode !== 0 || name === undefined) {
      throw new PlatformError('npm_pack_failed', `fetching npm ${npmMajor} from the npm registry failed`, { details: { log_tail: packed.tail }, hint: 'check that the npm registry is reachable' });
    }
    await rename(join(work, name), join(dir, name));
    return join(dir, name);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
