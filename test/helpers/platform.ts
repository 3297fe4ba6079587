import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../../src/agent/index.ts';
import { LocalPlatform, type Endpoints, type LocalPlatformOptions } from '../../src/fleet/index.ts';
import { createLogger, silentLogger, systemClock, type Logger } from '../../src/lib/index.ts';
import { Keyring } from '../../src/tokens/index.ts';
import { request } from 'undici';

export interface TestPlatform {
  platform: LocalPlatform;
  endpoints: Endpoints;
  dataDir: string;
  /** The platform's root keys (from <dataDir>/keyring), for tests that mint their own tokens. */
  keyring: Keyring;
  /**
   * Stops the platform. Its machines are destroyed first (so no instance, mount or namespace
   * outlives the test) unless `keepMachines`, for tests that start the platform again on the
   * same data directory and expect them back.
   */
  stop(options?: { keepMachines?: boolean }): Promise<void>;
}

/** One call to a platform's API with its admin token: the status and the answer's JSON. */
export async function callApi<T>(endpoints: Endpoints, method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await request(`${endpoints.api}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${endpoints.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as T };
}

/** Machines still being destroyed when a test ends are waited for, up to this long. */
const destroyWaitMs = 30_000;

/** Destroys every machine of a host's agent and waits (up to destroyWaitMs) until they are gone. */
export async function destroyEveryMachine(agent: Agent | undefined): Promise<void> {
  const service = agent?.service;
  if (service === undefined) return;
  for (const record of service.list()) {
    if (record.state !== 'destroyed') await service.destroy(record.id, true).catch(() => undefined);
  }
  const deadline = Date.now() + destroyWaitMs;
  while (Date.now() < deadline && !service.list().every((r) => r.state === 'destroyed')) await new Promise((r) => setTimeout(r, 50));
}

/** A whole local platform on loopback ports chosen by the OS, in a temporary data directory. */
export async function startTestPlatform(
  options: { dataDir?: string; driver?: 'auto' | 'oci' | 'process'; logger?: Logger; proxyPort?: number; acme?: LocalPlatformOptions['acme'] } = {},
): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'aloft-e2e-')));
  const platform = new LocalPlatform({
    dataDir,
    bindHost: '127.0.0.1',
    ports: { api: 0, proxy: options.proxyPort ?? 0, registry: 0, agent: 0, tls: 0 },
    region: 'dev',
    domain: 'aloft.localhost',
    driver: options.driver ?? 'auto',
    ...(options.acme === undefined ? {} : { acme: options.acme }),
    // ALOFT_TEST_LOG=debug shows what the platform does during a test.
    logger: options.logger ?? (process.env.ALOFT_TEST_LOG === undefined ? silentLogger() : createLogger('test', { level: process.env.ALOFT_TEST_LOG })),
  });
  try {
    const endpoints = await platform.start();
    return {
      platform,
      endpoints,
      dataDir,
      keyring: await Keyring.load(join(dataDir, 'keyring'), systemClock),
      async stop(stopOptions = {}) {
        if (stopOptions.keepMachines !== true) await destroyEveryMachine(platform.agent);
        await platform.stop();
      },
    };
  } catch (err) {
    await platform.stop().catch(() => undefined);
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
