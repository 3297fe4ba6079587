/** Shared harness for registry tests: a real server on port 0 in a temp dir, and skopeo. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { systemClock } from '../../src/lib/index.ts';
import { createRegistryServer, RegistryClient, tokenAuth, type RegistryServer, type RegistryServerOptions } from '../../src/registry/index.ts';
import { Keyring, mintToken, RevocationList } from '../../src/tokens/index.ts';

/** The platform keyring every harness verifies with. */
export const keyring = new Keyring(systemClock);
keyring.rotate();

/** An organization-admin token of `org`. */
export function tokenFor(org: string, tokenId?: string): string {
  return mintToken({ keyring, org, ...(tokenId === undefined ? {} : { tokenId }) });
}

/** The token the harness's client and `call` use: admin of `acme`, where the tests' repositories live. */
export const token = tokenFor('acme');

export interface Harness {
  server: RegistryServer;
  url: string;
  /** host:port, as skopeo wants it. */
  host: string;
  dir: string;
  dataDir: string;
  client: RegistryClient;
  /** The registry's revoked ids; tests add to it as the API's push would. */
  revocations: RevocationList;
  /** fetch against the registry with the token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export async function startRegistry(options: Partial<RegistryServerOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-registry-test-'));
  const dataDir = join(dir, 'data');
  const revocations = new RevocationList();
  const server = await createRegistryServer({ dataDir, ...tokenAuth({ keyring, revocations, clock: systemClock }), ...options });
  const url = await server.listen(0, '127.0.0.1');
  const client = new RegistryClient({ url, credentials: { username: 'x', password: token } });
  return {
    server,
    url,
    host: url.replace('http://', ''),
    dir,
    dataDir,
    client,
    revocations,
    call: (path, init = {}) =>
      fetch(new URL(path, url), { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } }),
    async stop() {
      await client.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const execFileAsync = promisify(execFile);

/** Runs skopeo without blocking the event loop (the registry under test lives in this process). */
export async function skopeo(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('skopeo', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** The OCI error code of a registry response. */
export async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code ?? '';
}
