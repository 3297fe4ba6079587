import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPlatform, type Endpoints } from '../../src/fleet/index.ts';
import { createLogger, silentLogger, type Logger } from '../../src/lib/index.ts';

export interface TestPlatform {
  platform: LocalPlatform;
  endpoints: Endpoints;
  dataDir: string;
  stop(): Promise<void>;
}

/** A whole local platform on loopback ports chosen by the OS, in a temporary data directory. */
export async function startTestPlatform(options: { dataDir?: string; driver?: 'auto' | 'oci' | 'process'; logger?: Logger } = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'aloft-e2e-')));
  const platform = new LocalPlatform({
    dataDir,
    bindHost: '127.0.0.1',
    ports: { api: 0, proxy: 0, registry: 0, agent: 0 },
    region: 'dev',
    domain: 'aloft.localhost',
    driver: options.driver ?? 'auto',
    // ALOFT_TEST_LOG=debug shows what the platform does during a test.
    logger: options.logger ?? (process.env.ALOFT_TEST_LOG === undefined ? silentLogger() : createLogger('test', { level: process.env.ALOFT_TEST_LOG })),
  });
  try {
    const endpoints = await platform.start();
    return {
      platform,
      endpoints,
      dataDir,
      async stop() {
        await platform.stop();
      },
    };
  } catch (err) {
    await platform.stop().catch(() => undefined);
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
