/**
 * A Node.js app without a Dockerfile: its package.json says how to install and start it, and a
 * Dockerfile is generated for it on top of the Aloft Node.js base image (`node:24`, made by
 * `aloft images bootstrap debian`). Production installs only (`npm ci --omit=dev` when there is
 * a lock file), and the install is its own layer, so editing the source does not reinstall.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'shell-quote';
import { AloftError } from '../lib/index.ts';
import { pathExists } from './paths.ts';

export const nodeBaseImage = 'node:24';
/** The port generated images listen on (`PORT`), as Fly's launchers default to. */
export const nodeAppPort = 8080;

interface PackageJson {
  main?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
}

/** What goes into every generated image that the app's own files should never override. */
export const generatedIgnore = ['node_modules', '.git', '.aloft', 'npm-debug.log'].join('\n');

/**
 * The Dockerfile for the Node.js app in `dir`, or null when `dir` has no package.json.
 * Throws a config fault when the package.json is unreadable or says nothing about how to start.
 */
export async function nodeDockerfile(dir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(dir, 'package.json'), 'utf8');
  } catch {
    return null;
  }
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(text) as PackageJson;
  } catch (err) {
    throw new AloftError('bad_package_json', 'config', `${join(dir, 'package.json')} is not valid JSON: ${(err as Error).message}`, {
      hint: 'fix package.json (npm install would fail on it too)',
    });
  }
  const cmd = await startCommand(dir, pkg);
  const lines = [`FROM ${nodeBaseImage}`, 'WORKDIR /app', `ENV NODE_ENV=production PORT=${nodeAppPort}`];
  if (Object.keys(pkg.dependencies ?? {}).length > 0) {
    const locked = await pathExists(join(dir, 'package-lock.json'));
    lines.push('COPY package*.json ./', locked ? 'RUN npm ci --omit=dev' : 'RUN npm install --omit=dev');
  }
  lines.push('COPY . .', `EXPOSE ${nodeAppPort}`, `CMD ${JSON.stringify(cmd)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `scripts.start` when it is a plain `node …` command (run directly, so the app is the machine's
 * main process and gets its signals), else through `npm start`; then `main`; then server.js.
 */
async function startCommand(dir: string, pkg: PackageJson): Promise<string[]> {
  const start = pkg.scripts?.start;
  if (typeof start === 'string' && start.trim() !== '') {
    const words = parse(start);
    const plain = words.every((w): w is string => typeof w === 'string') && !words.some((w) => w.includes('='));
    return plain && words[0] === 'node' ? words : ['npm', 'start'];
  }
  if (typeof pkg.main === 'string' && pkg.main !== '') return ['node', pkg.main];
  if (await pathExists(join(dir, 'server.js'))) return ['node', 'server.js'];
  throw new AloftError('no_start_command', 'config', `cannot tell how to start the Node.js app in ${dir}: package.json has no scripts.start or main, and there is no server.js`, {
    hint: 'add "scripts": {"start": "node server.js"} to package.json, or add a Dockerfile',
  });
}
