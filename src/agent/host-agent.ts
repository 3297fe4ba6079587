/**
 * One host's agent with everything it needs wired in: the registry client it pulls images
 * through, the runtime (driver, networking, image store) and this computer's capacity. The one
 * place that assembles an agent, for `aloft up`, fleet hosts and the standalone agent process.
 */
import type { Logger } from '../lib/index.ts';
import { RegistryClient } from '../registry/index.ts';
import { Agent } from './agent.ts';
import { detectHostCapacity, type HostCapacity } from './capacity.ts';
import type { CrashHook } from './fsm/index.ts';
import { createHostRuntime, type DriverName } from './runtime-factory.ts';

export interface HostAgentOptions {
  dataDir: string;
  hostId: string;
  /** The host's number in the private network's address plan. */
  hostNum: number;
  region: string;
  registry: { url: string; password: string };
  driver: DriverName | 'auto';
  /** Token the API gateway presents to this agent. */
  token: string;
  logger: Logger;
  /** Defaults to what this computer has. */
  capacity?: HostCapacity;
  /** Prefix of namespace and interface names, unique per host on one computer. */
  namePrefix?: string;
  crashHook?: CrashHook;
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
  const source = new RegistryClient({ url: opts.registry.url, credentials: { password: opts.registry.password } });
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
      token: opts.token,
      logger: opts.logger.child({ component: 'agent' }),
      ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
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
