/**
 * Where the platform is and how to talk to it. Each setting is taken from the first place that
 * has it: command-line flags (`--api-url`, `--access-token`), the environment
 * (`ALOFT_API_URL`, `ALOFT_API_TOKEN`), the login config that `aloft auth login` writes
 * (`$ALOFT_CONFIG_DIR/config.json`, default `~/.config/aloft/config.json`), and the
 * `endpoints.json` that `aloft up` writes into its data directory.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AloftError, randomHex } from '../lib/index.ts';

export interface Endpoints {
  api: string;
  proxy: string;
  registry: string;
  token: string;
}

/** What `aloft auth login` stores. */
export interface LoginConfig {
  api_url?: string;
  token?: string;
}

/** Settings given on the command line; they beat every other source. */
export interface EndpointFlags {
  apiUrl?: string;
  accessToken?: string;
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

export function loginConfigPath(): string {
  return join(env('ALOFT_CONFIG_DIR') ?? join(homedir(), '.config', 'aloft'), 'config.json');
}

export function readLoginConfig(): LoginConfig {
  let text: string;
  try {
    text = readFileSync(loginConfigPath(), 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as LoginConfig;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    throw new AloftError('bad_config', 'config', `${loginConfigPath()} is not valid JSON`, {
      hint: 'run `aloft auth login` again, or delete the file',
    });
  }
}

/** Writes the login config readable by its owner only (it holds a token), replacing it atomically. */
export function writeLoginConfig(config: LoginConfig): string {
  const path = loginConfigPath();
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${randomHex(4)}`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

/** The token to use, from the first source that has one; undefined when none does. */
export function resolveToken(dataDir: string, flags: EndpointFlags = {}): string | undefined {
  return flags.accessToken ?? env('ALOFT_API_TOKEN') ?? readLoginConfig().token ?? readEndpoints(dataDir)?.token;
}

/** The API URL and token to use, or an error that says how to provide them. */
export function resolveEndpoints(dataDir: string, flags: EndpointFlags = {}): Endpoints {
  const file = readEndpoints(dataDir);
  const login = readLoginConfig();
  const api = flags.apiUrl ?? env('ALOFT_API_URL') ?? login.api_url ?? file?.api;
  const token = resolveToken(dataDir, flags);
  if (api === undefined || token === undefined) {
    throw new AloftError('no_platform', 'user', `no Aloft platform found: ${join(dataDir, endpointsFile)} does not exist, you are not logged in, and ALOFT_API_URL/ALOFT_API_TOKEN are not set`, {
      hint: 'start one with `aloft up` (in another terminal), log in with `aloft auth login --api URL`, or set ALOFT_API_URL and ALOFT_API_TOKEN',
    });
  }
  // The file's proxy and registry belong to the file's platform: with another API they would
  // send images to one platform and deploys to another, so then they are asked of the API instead.
  const sameAsFile = file !== undefined && api === file.api;
  return {
    api,
    token,
    proxy: env('ALOFT_PROXY_URL') ?? (sameAsFile ? file.proxy : ''),
    registry: env('ALOFT_REGISTRY_URL') ?? (sameAsFile ? file.registry : ''),
  };
}

/** An environment variable, where set and not empty. */
function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}
