/**
 * Where the platform is and how to talk to it: `ALOFT_API_URL`/`ALOFT_API_TOKEN`, or the
 * `endpoints.json` that `aloft up` writes into its data directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AloftError } from '../lib/index.ts';

export interface Endpoints {
  api: string;
  proxy: string;
  registry: string;
  token: string;
}

export const defaultDataDir = './.aloft';
export const endpointsFile = 'endpoints.json';

export function readEndpoints(dataDir: string): Endpoints | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, endpointsFile), 'utf8')) as Endpoints;
  } catch {
    return undefined;
  }
}

/** The API URL and token to use, or an error that says how to provide them. */
export function resolveEndpoints(dataDir: string): Endpoints {
  const file = readEndpoints(dataDir);
  const api = env('ALOFT_API_URL') ?? file?.api;
  const token = env('ALOFT_API_TOKEN') ?? file?.token;
  if (api === undefined || token === undefined) {
    throw new AloftError('no_platform', 'user', `no Aloft platform found: ${join(dataDir, endpointsFile)} does not exist and ALOFT_API_URL/ALOFT_API_TOKEN are not set`, {
      hint: 'start one with `aloft up` (in another terminal), or set ALOFT_API_URL and ALOFT_API_TOKEN, or pass --data-dir',
    });
  }
  return { api, token, proxy: env('ALOFT_PROXY_URL') ?? file?.proxy ?? '', registry: env('ALOFT_REGISTRY_URL') ?? file?.registry ?? '' };
}

/** An environment variable, where set and not empty. */
function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}
