import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock, type Logger } from '../lib/index.ts';
import type { Keyring, RevocationList } from '../tokens/index.ts';
import type { HostCapacity } from './capacity.ts';
import { CheckRunner } from './checks/runner.ts';
import type { CrashHook } from './fsm/index.ts';
import type { HostRuntime } from './host-runtime.ts';
import { agentHttpServer } from './http.ts';
import { MachineService } from './machines.ts';
import type { AppSecretsSource } from './secrets.ts';

export interface AgentOptions {
  dataDir: string;
  hostId: string;
  region: string;
  capacity: HostCapacity;
  runtime: HostRuntime;
  /** The platform's root keys: the agent verifies every request's token with them, locally. */
  keyring: Keyring;
  /** Revoked token ids, kept current by the API's pushes and a periodic refresh (tokens/revocations.ts). */
  revocations: RevocationList;
  logger: Logger;
  clock?: Clock;
  crashHook?: CrashHook;
  /** Where prepared instances get their app's secrets; default none. */
  secrets?: AppSecretsSource;
}

/** One host's agent: the machine service behind its HTTP API. */
export class Agent {
  readonly service: MachineService;
  readonly #checks: CheckRunner;
  readonly #server: FastifyInstance;
  #url = '';

  constructor(opts: AgentOptions) {
    this.service = new MachineService({
      dataDir: opts.dataDir,
      hostId: opts.hostId,
      region: opts.region,
      capacity: opts.capacity,
      runtime: opts.runtime,
      clock: opts.clock ?? systemClock,
      logger: opts.logger,
      ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
      ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }),
    });
    this.#checks = new CheckRunner(this.service, opts.clock ?? systemClock, opts.logger.child({ component: 'checks' }));
    this.#server = agentHttpServer(this.service, { keyring: opts.keyring, revocations: opts.revocations, clock: opts.clock ?? systemClock }, opts.logger);
  }

  get url(): string {
    return this.#url;
  }

  /** Boots the service (resuming interrupted work) and listens; returns the base URL. */
  async start(port: number, host = '127.0.0.1'): Promise<string> {
    // Following changes from before the boot, so statuses left by a stopped run are cleared
    // before any machine starts again.
    this.#checks.start();
    await this.service.boot();
    const address = await this.#server.listen({ port, host });
    this.#url = address;
    return address;
  }

  async stop(stopMachines: boolean): Promise<void> {
    await this.#server.close();
    this.#checks.stop();
    await this.service.shutdown(stopMachines);
  }
}
