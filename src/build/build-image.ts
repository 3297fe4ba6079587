/**
 * Builds a directory into an image with buildah and pushes it to the Aloft registry. The
 * Dockerfile is the directory's own (or `dockerfile`), else one generated for a Node.js app;
 * its `FROM` short names are rewritten to the organization's images on the registry. Credentials
 * go to buildah in an auth file in a private temp directory, never on its command line.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { AloftError, ValidationError } from '../lib/index.ts';
import { buildFailure, pushFailure } from './build-errors.ts';
import { buildStorage, runBuildah, type BuildahEnv } from './buildah.ts';
import { qualifyFromLines } from './dockerfile.ts';
import { generatedIgnore, nodeDockerfile } from './node-app.ts';
import { pathExists } from './paths.ts';

/** The registry to pull bases from and push to, and the token it accepts as a basic-auth password. */
export interface RegistryTarget {
  /** e.g. http://127.0.0.1:7705 (plain http is expected on loopback). */
  url: string;
  token: string;
}

export type BuildProgress =
  | { kind: 'step'; step: number; steps: number; text: string }
  | { kind: 'output'; line: string }
  | { kind: 'push'; reference: string };

export interface BuildImageOptions {
  /** The build context. */
  dir: string;
  /** `NAME[:TAG]`; a NAME without `/` is in `org`. */
  image: string;
  registry: RegistryTarget;
  /** The platform's data directory; buildah's storage lives in `<dataDir>/build`. */
  dataDir: string;
  /** Defaults to `personal`. */
  org?: string;
  /** Path to the Dockerfile, relative to `dir` unless absolute; default `<dir>/Dockerfile`. */
  dockerfile?: string;
  buildArgs?: Record<string, string>;
  /** The Dockerfile stage to build (`[build] build-target`); default the last. */
  target?: string;
  /** A .dockerignore-format file, relative to `dir` unless absolute (`[build] ignorefile`); default `<dir>/.dockerignore`. */
  ignorefile?: string;
  /** Called for each step, each output line, and the push; must not throw. */
  onProgress?: (event: BuildProgress) => void;
}

export interface BuiltImage {
  /** `<registry host>/<repository>:<tag>`. */
  reference: string;
  repository: string;
  tag: string;
  /** The pushed manifest's digest. */
  digest: string;
  /** Whether the Dockerfile was generated (a detected Node.js app). */
  generated: boolean;
}

const imageName = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/;
const stepLine = /^(?:\[\d+\/\d+\] )?STEP (\d+)\/(\d+): (.*)$/;

/** The repository and tag `NAME[:TAG]` means in `org`, or a user error naming what is wrong. */
export function parseImageName(image: string, org: string): { repository: string; tag: string } {
  const m = imageName.exec(image);
  if (m === null) {
    throw new ValidationError(`bad image name '${image}'`, { field: 'image', hint: 'use NAME:TAG with lowercase letters, digits, ., _, - and /, e.g. web:v1' });
  }
  return { repository: m[1]!.includes('/') ? m[1]! : `${org}/${m[1]!}`, tag: m[2] ?? 'latest' };
}

/**
 * Builds `dir` and pushes it as `image`; resolves with the pushed digest. Rejects with a config
 * fault for a bad Dockerfile or missing base image, an app fault when a `RUN` step fails (the
 * error's details carry the step and the last output lines), a platform fault when buildah or
 * the registry fails. Concurrent builds on one data directory are safe (buildah locks its storage).
 */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const org = options.org ?? 'personal';
  const { repository, tag } = parseImageName(options.image, org);
  const registryHost = new URL(options.registry.url).host;
  const reference = `${registryHost}/${repository}:${tag}`;
  const onProgress = options.onProgress ?? (() => undefined);
  const dir = resolve(options.dir);
  const dataDir = resolve(options.dataDir);
  await requireDirectory(dir);
  const source = await dockerfileFor(dir, options.dockerfile);

  const storage = buildStorage(dataDir);
  await mkdir(join(dataDir, 'build', 'tmp'), { recursive: true });
  const tmpDir = await mkdtemp(join(dataDir, 'build', 'tmp', 'build-'));
  try {
    await chmod(tmpDir, 0o700);
    const env: BuildahEnv = { ...storage, tmpDir };
    const authFile = await writeAuthFile(tmpDir, registryHost, options.registry.token);
    const dockerfile = join(tmpDir, 'Dockerfile');
    await writeFile(dockerfile, qualifyFromLines(source.text, registryHost, org));
    const args = ['bud', '--layers', '--force-rm', '--isolation', 'chroot', '--network', 'host', '--authfile', authFile, '--tls-verify=false', '-f', dockerfile];
    args.push('--iidfile', join(tmpDir, 'iid'), '-t', reference);
    if (options.ignorefile !== undefined) {
      args.push('--ignorefile', await requireFile(isAbsolute(options.ignorefile) ? options.ignorefile : join(dir, options.ignorefile), 'ignorefile'));
    } else if (source.generated && !(await pathExists(join(dir, '.dockerignore')))) {
      await writeFile(join(tmpDir, 'ignore'), generatedIgnore);
      args.push('--ignorefile', join(tmpDir, 'ignore'));
    }
    if (options.target !== undefined) args.push('--target', options.target);
    for (const [key, value] of Object.entries(options.buildArgs ?? {})) args.push('--build-arg', `${key}=${value}`);
    args.push(dir);

    let step = '';
    const built = await runBuildah(env, args, (line) => {
      const m = stepLine.exec(line);
      if (m !== null) {
        step = line;
        onProgress({ kind: 'step', step: Number(m[1]), steps: Number(m[2]), text: m[3]! });
      }
      onProgress({ kind: 'output', line });
    });
    if (built.exitCode !== 0) throw buildFailure(step, built.tail, registryHost, org);

    onProgress({ kind: 'push', reference });
    const imageId = (await readFile(join(tmpDir, 'iid'), 'utf8')).trim();
    const digestFile = join(tmpDir, 'digest');
    const pushed = await runBuildah(env, ['push', '--authfile', authFile, '--tls-verify=false', '--digestfile', digestFile, imageId, `docker://${reference}`], (line) =>
      onProgress({ kind: 'output', line }),
    );
    if (pushed.exitCode !== 0) throw pushFailure(reference, pushed.tail);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    return { reference, repository, tag, digest, generated: source.generated };
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

async function dockerfileFor(dir: string, dockerfile: string | undefined): Promise<{ text: string; generated: boolean }> {
  const path = dockerfile === undefined ? join(dir, 'Dockerfile') : isAbsolute(dockerfile) ? dockerfile : join(dir, dockerfile);
  try {
    return { text: await readFile(path, 'utf8'), generated: false };
  } catch (err) {
    if (dockerfile !== undefined) throw new ValidationError(`cannot read the Dockerfile ${path}`, { field: 'dockerfile', cause: err, hint: 'check the --dockerfile path' });
  }
  const generated = await nodeDockerfile(dir);
  if (generated !== null) return { text: generated, generated: true };
  throw new AloftError('nothing_to_build', 'config', `${dir} has no Dockerfile and is not a Node.js app (no package.json)`, {
    hint: 'add a Dockerfile (FROM debian:bookworm or node:24 use the images `aloft images bootstrap debian` makes), or a package.json for a Node.js app',
  });
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new ValidationError(`${dir} is not a directory`, { field: 'dir', hint: 'pass the directory to build (its Dockerfile or package.json inside)' });
  }
}

/** `path` if it is a readable file; otherwise an error naming the option it came from. */
async function requireFile(path: string, field: string): Promise<string> {
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isFile()) throw new ValidationError(`the ${field} ${path} is not a file`, { field, hint: `check the ${field} path (relative to the directory being built)` });
  return path;
}

/** A containers-auth.json with the token as basic-auth password, readable only by us. */
async function writeAuthFile(dir: string, registryHost: string, token: string): Promise<string> {
  const path = join(dir, 'auth.json');
  const auth = Buffer.from(`aloft:${token}`).toString('base64');
  await writeFile(path, JSON.stringify({ auths: { [registryHost]: { auth } } }), { mode: 0o600 });
  return path;
}
