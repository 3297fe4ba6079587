/**
 * Picks and builds the host's runtime: runc with a network namespace per machine when we are
 * root and the tools are there; otherwise plain processes, which say plainly that they isolate
 * nothing.
 */
import type { HostRuntime } from './host-runtime.ts';
import { LocalImageStore, type ImageSource } from './image/index.ts';
import { hostNetworking, namespaceNetworking } from './networking.ts';
import { OciDriver, ProcessDriver, ociRuntimeAvailable } from './runtime/index.ts';
import { AloftError, type Logger } from '../lib/index.ts';
import { MachineNetworks, hasRootNetworking } from '../net/index.ts';

export type DriverName = 'oci' | 'process';

export interface HostRuntimeOptions {
  dataDir: string;
  driver: DriverName | 'auto';
  source: ImageSource;
  defaultRegistry: string;
  hostNum: number;
  logger: Logger;
  /** Prefix of namespace and interface names, unique per host on one computer. */
  namePrefix?: string;
}

export async function createHostRuntime(opts: HostRuntimeOptions): Promise<{ runtime: HostRuntime; warning?: string }> {
  const root = process.getuid?.() === 0;
  const canIsolate = root && (await hasRootNetworking()) && (await ociRuntimeAvailable());
  const name = opts.driver === 'auto' ? (canIsolate ? 'oci' : 'process') : opts.driver;
  if (name === 'oci' && !canIsolate) {
    throw new AloftError('no_isolation', 'config', 'the oci driver needs root, runc and network namespaces, and this machine lacks one of them', {
      hint: 'run as root after `bash scripts/setup.sh` installed runc and iproute2, or use --driver process for development (no isolation)',
    });
  }
  const images = new LocalImageStore({ dataDir: opts.dataDir, source: opts.source, root, defaultRegistry: opts.defaultRegistry, logger: opts.logger });
  if (name === 'oci') {
    const networks = new MachineNetworks({ dataDir: opts.dataDir, logger: opts.logger, ...(opts.namePrefix === undefined ? {} : { namePrefix: opts.namePrefix }) });
    const driver = new OciDriver({ dataDir: opts.dataDir, logger: opts.logger });
    return { runtime: { images, networking: namespaceNetworking(networks, opts.hostNum), driver } };
  }
  const driver = new ProcessDriver({ dataDir: opts.dataDir, logger: opts.logger });
  const warning = `machines run as plain processes with NO isolation (${driver.isolation}); run as root with runc for real isolation`;
  opts.logger.warn(warning);
  return { runtime: { images, networking: hostNetworking(), driver }, warning };
}
