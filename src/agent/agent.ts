import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock, type Logger } from '../lib/index.ts';
import type { HostCapacity } from './capacity.ts';
import { CheckRunner } from './checks/runner.ts';
import type { CrashHook } from './fsm/index.ts';
import type { HostRuntime } from './host-runtime.ts';
import { agentHttpServer } from './http.ts';
import { MachineService } from './machines.ts';

export interface AgentOptions {
  dataDir: string;
  hostId: string;
  region: string;
  capacity: HostCapacity;
  runtime: HostRuntime;
  /** Token the API gateway presents to this agent. */
  token: string;
  logger: Logger;
  clock?: Clock;
  crashHook?: CrashHook;
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
    });
    this.#checks = new CheckRunner(this.service, opts.clock ?? systemClock, opts.logger.child({ component: 'checks' }));
    this.#server = agentHttpServer(this.service, opts.token, opts.logger);
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
