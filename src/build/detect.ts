/**
 * What kind of app a source directory holds, for `aloft launch`: one with its own Dockerfile
 * (its first EXPOSEd port is the one to serve), or a Node.js app (package.json), whose
 * generated image listens on `nodeAppPort`.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AloftError } from '../lib/index.ts';
import { nodeAppPort } from './node-app.ts';

export interface DetectedSource {
  kind: 'dockerfile' | 'node';
  /** The port the app listens on inside its machine. */
  port: number;
  /** A name suggestion: package.json's name, else the directory's. */
  name: string;
}

/** A port to assume when a Dockerfile exposes none: what Fly's launchers assume. */
const defaultPort = 8080;

export async function detectSource(dir: string): Promise<DetectedSource> {
  const dockerfile = await readFile(join(dir, 'Dockerfile'), 'utf8').catch(() => undefined);
  const pkgText = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
  let pkg: { name?: unknown } | undefined;
  try {
    pkg = pkgText === undefined ? undefined : (JSON.parse(pkgText) as { name?: unknown });
  } catch {
    throw new AloftError('bad_package_json', 'config', `${join(dir, 'package.json')} is not valid JSON`, { hint: 'fix it (npm install would refuse it too)' });
  }
  const name = typeof pkg?.name === 'string' ? pkg.name.replace(/^@[^/]+\//, '') : basename(dir);
  if (dockerfile !== undefined) {
    const expose = /^\s*EXPOSE\s+(\d+)/im.exec(dockerfile);
    return { kind: 'dockerfile', port: expose === null ? defaultPort : Number(expose[1]), name };
  }
  if (pkg !== undefined) return { kind: 'node', port: nodeAppPort, name };
  throw new AloftError('nothing_to_launch', 'config', `${dir} has no Dockerfile and is not a Node.js app (no package.json)`, {
    hint: 'launch from the directory of your app, or add a Dockerfile to it',
  });
}
