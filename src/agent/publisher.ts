/**
 * Publishes this host and its machines into the host's state node, from where gossip carries
 * them to every proxy and DNS server. The agent is the only writer of these rows (DESIGN.md
 * lesson 1): its row in `hosts` and the rows in `machines` whose `host_id` is this host.
 *
 * Changes are coalesced: every record change marks the machine dirty and one transaction per
 * event-loop turn writes all dirty rows and the host row, so a burst of steps is one version.
 */
import type { Clock, Logger } from '../lib/index.ts';
import type { StateHandle, Statement } from '../state/index.ts';
import type { MachineService } from './machines.ts';
import type { MachineRecord } from './record.ts';

/** Where this host's roles answer, as other hosts and the API gateway find them. */
export interface PublishedHost {
  /** The host's address on the fleet network (its loopback or namespace address). */
  address: string;
  agentUrl: string;
  proxyUrl: string;
}

/** Delay before a transaction the state node refused (e.g. over its write rate) is tried again. */
export const publishRetryDelayMs = 200;

export class StatePublisher {
  readonly #service: MachineService;
  readonly #state: Pick<StateHandle, 'id' | 'transaction' | 'query'>;
  readonly #host: PublishedHost;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #dirty = new Set<string>();
  #hostState = 'up';
  /** Cancels the pending flush, if one is scheduled. */
  #cancelScheduled: (() => void) | undefined;
  readonly #unsubscribes: Array<() => void> = [];

  constructor(service: MachineService, state: Pick<StateHandle, 'id' | 'transaction' | 'query'>, host: PublishedHost, clock: Clock, logger: Logger) {
    this.#service = service;
    this.#state = state;
    this.#host = host;
    this.#clock = clock;
    this.#logger = logger;
  }

  /**
   * Reconciles the state node with the agent's records (rows of machines this host no longer
   * has are removed), publishes every machine and the host, then follows every change.
   */
  start(): void {
    const current = new Set(this.#service.list().map((m) => m.id));
    const published = this.#state.query('SELECT id FROM machines WHERE host_id = ?', [this.#service.hostId]).rows.map((r) => String(r[0]));
    const stale = published.filter((id) => !current.has(id));
    for (const id of [...current, ...stale]) this.#dirty.add(id);
    this.#unsubscribes.push(
      this.#service.onChange((record) => this.#markDirty(record.id)),
      this.#service.capacity.onCordonChange(() => this.#schedule()),
    );
    this.#flush();
  }

  /** Writes what is pending and marks the host stopped; its machines' rows stay as they are. */
  stop(): void {
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    this.#cancelScheduled?.();
    this.#hostState = 'stopped';
    this.#flush();
  }

  #markDirty(id: string): void {
    this.#dirty.add(id);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#cancelScheduled !== undefined) return;
    const immediate = setImmediate(() => this.#flush());
    this.#cancelScheduled = () => clearImmediate(immediate);
  }

  #flush(): void {
    this.#cancelScheduled = undefined;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    const statements: Statement[] = [];
    for (const id of ids) {
      const record = this.#service.store.getMachine(id);
      if (record === undefined || record.state === 'destroyed') statements.push({ sql: 'DELETE FROM machines WHERE id = ? AND host_id = ?', params: [id, this.#service.hostId] });
      else statements.push(machineRow(record, this.#clock.now()));
    }
    statements.push(this.#hostRow());
    try {
      this.#state.transaction(statements);
    } catch (err) {
      // Nothing is lost: the rows are marked dirty again and written from the records later.
      for (const id of ids) this.#dirty.add(id);
      this.#logger.warn({ err: (err as Error).message }, 'publishing to the state node failed; retrying');
      if (this.#hostState === 'up' && this.#cancelScheduled === undefined) {
        const timer = setTimeout(() => this.#flush(), publishRetryDelayMs);
        this.#cancelScheduled = () => clearTimeout(timer);
      }
    }
  }

  #hostRow(): Statement {
    const service = this.#service;
    const machines = service.list();
    const used = service.capacity.used(machines);
    const capacity = service.capacity.capacity;
    return {
      sql: `INSERT INTO hosts (id, region, address, cpus, memory_mb, cpus_used, memory_mb_used, cordoned, state, updated_at, agent_url, proxy_url, machines, state_node)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET region = excluded.region, address = excluded.address, cpus = excluded.cpus, memory_mb = excluded.memory_mb,
              cpus_used = excluded.cpus_used, memory_mb_used = excluded.memory_mb_used, cordoned = excluded.cordoned, state = excluded.state,
              updated_at = excluded.updated_at, agent_url = excluded.agent_url, proxy_url = excluded.proxy_url, machines = excluded.machines,
              state_node = excluded.state_node`,
      params: [
        service.hostId,
        service.region,
        this.#host.address,
        capacity.cpus,
        capacity.memoryMb,
        used.cpus,
        used.memoryMb,
        service.capacity.cordoned ? 1 : 0,
        this.#hostState,
        this.#clock.now(),
        this.#host.agentUrl,
        this.#host.proxyUrl,
        machines.length,
        this.#state.id,
      ],
    };
  }
}

function machineRow(record: MachineRecord, now: number): Statement {
  return {
    sql: `INSERT INTO machines (id, app, org, host_id, region, state, instance_id, private_ip, local_ip, services, checks, metadata, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (id) DO UPDATE SET app = excluded.app, org = excluded.org, host_id = excluded.host_id, region = excluded.region, state = excluded.state,
            instance_id = excluded.instance_id, private_ip = excluded.private_ip, local_ip = excluded.local_ip, services = excluded.services,
            checks = excluded.checks, metadata = excluded.metadata, updated_at = excluded.updated_at`,
    params: [
      record.id,
      record.app,
      record.org,
      record.hostId,
      record.region,
      record.state,
      record.instanceId,
      record.network?.ipv6 ?? '',
      record.network?.ipv4 ?? '',
      // A cordoned machine publishes no services: no proxy routes to it, while DNS still answers.
      JSON.stringify(record.cordoned === true ? [] : record.config.services),
      JSON.stringify(record.checks ?? []),
      JSON.stringify(record.config.metadata),
      now,
    ],
  };
}
