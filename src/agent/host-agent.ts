/**
 * One host's agent with everything it needs wired in: the registry client it pulls images
 * through, the runtime (driver, networking, image store) and this computer's capacity. The one
 * place that assembles an agent, for `aloft up`, fleet hosts and the standalone agent process.
 */
import { systemClock, type Logger } from '../lib/index.ts';
import { RegistryClient } from '../registry/index.ts';
import { mintPlatformToken, type Keyring, type RevocationList } from '../tokens/index.ts';
import { Agent } from './agent.ts';
import { detectHostCapacity, type HostCapacity } from './capacity.ts';
import type { CrashHook } from './fsm/index.ts';
import { createHostRuntime, type DriverName } from './runtime-factory.ts';
import type { AppSecretsSource } from './secrets.ts';

export interface HostAgentOptions {
  dataDir: string;
  hostId: string;
  /** The host's number in the private network's address plan. */
  hostNum: number;
  region: string;
  /** The agent pulls with platform tokens it mints from `keyring`, so it needs no registry secret. */
  registry: { url: string };
  driver: DriverName | 'auto';
  /** The platform's root keys, for verifying requests and minting pull tokens. */
  keyring: Keyring;
  /** Revoked token ids; the caller keeps it fed (RevocationList.follow) and the API pushes to it. */
  revocations: RevocationList;
  logger: Logger;
  /** Defaults to what this computer has. */
  capacity?: HostCapacity;
  /** Prefix of namespace and interface names, unique per host on one computer. */
  namePrefix?: string;
  crashHook?: CrashHook;
  /** Where prepared instances get their app's secrets (the host's state node); default none. */
  secrets?: AppSecretsSource;
}

export interface HostAgent {
  agent: Agent;
  /** Base URL of the agent's HTTP API. */
  url: string;
  driver: { name: string; isolation: string };
  /** Stops the agent (and its machines when asked) and closes the registry client. */
  stop(stopMachines: boolean): Promise<void>;
}

/** Builds the agent and listens on `host:port`; on failure nothing is left open. */
export async function startHostAgent(opts: HostAgentOptions, port: number, host: string): Promise<HostAgent> {
  // A fresh short-lived pull token for every token exchange with the registry (see tokens/platform.ts).
  const pullToken = (): string => mintPlatformToken(opts.keyring, ['read'], systemClock.now());
  const source = new RegistryClient({ url: opts.registry.url, credentials: { password: pullToken } });
  try {
    const { runtime } = await createHostRuntime({
      dataDir: opts.dataDir,
      driver: opts.driver,
      source,
      defaultRegistry: new URL(opts.registry.url).host,
      hostNum: opts.hostNum,
      logger: opts.logger.child({ component: 'runtime' }),
      ...(opts.namePrefix === undefined ? {} : { namePrefix: opts.namePrefix }),
    });
    const agent = new Agent({
      dataDir: opts.dataDir,
      hostId: opts.hostId,
      region: opts.region,
      capacity: opts.capacity ?? detectHostCapacity(),
      runtime,
      keyring: opts.keyring,
      revocations: opts.revocations,
      logger: opts.logger.child({ component: 'agent' }),
      ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
      ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }),
    });
    const url = await agent.start(port, host);
    return {
      agent,
      url,
      driver: { name: runtime.driver.name, isolation: runtime.driver.isolation },
      async stop(stopMachines) {
        await agent.stop(stopMachines);
        await source.close();
      },
    };
  } catch (err) {
    await source.close();
    throw err;
  }
}
