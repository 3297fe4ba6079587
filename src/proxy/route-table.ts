/**
 * The proxy's view of where each app can be served: every machine of every app with the
 * services it declares, whether it is started, and how loaded each of its services is through
 * this proxy. Fed by machine rows (from the state layer or, on one host, from the local agent).
 */
import { isRawPort, serviceCheckNames, type CheckStatus, type ServiceConfig } from '../lib/index.ts';

/** One machine as the proxy needs to know it. */
export interface MachineRoute {
  id: string;
  app: string;
  /** The organization of the machine's app; absent or '' when unknown (it may then replay to no other app). */
  org?: string;
  state: string;
  region: string;
  hostId: string;
  /** Address the proxy connects to (the machine's host-local IPv4, or 127.0.0.1 without isolation). */
  address: string;
  services: ServiceConfig[];
  /** Health check results its agent publishes (src/agent/checks/); absent or empty: none. */
  checks?: Pick<CheckStatus, 'name' | 'status'>[];
}

export type PortConfig = ServiceConfig['ports'][number];
export type Protocol = ServiceConfig['protocol'];

/** Load of one service of one machine through this proxy. */
export interface ServiceLoad {
  /**
   * Requests in flight plus open connections (TCP, WebSocket). For HTTP both concurrency types
   * count the same thing: the proxy speaks HTTP/1.1 to machines, one request per connection at a
   * time, so a request in flight is a connection in use; idle pooled connections do not count.
   */
  inFlight: number;
  /** Monotonic ms when the load last dropped to zero or rose from it (idleness for autostop). */
  lastActiveMs: number;
}

/** A machine's service reachable on one public port: what a request is sent to. */
export interface Target {
  machineId: string;
  app: string;
  region: string;
  hostId: string;
  address: string;
  /** The machine's port: the service's internal_port, or the public port itself for a port range. */
  port: number;
  service: ServiceConfig;
  portConfig: PortConfig;
  load: ServiceLoad;
  softLimit: number;
  hardLimit: number;
  /** What the checks of this service say (top-level machine checks do not count). */
  health: ServiceHealth;
}

/**
 * A service's health by the checks its machine reports for it: `failing` when one is critical,
 * `pending` while one has not passed yet (grace period, first probe), `passing` otherwise — also
 * when the service has no checks, or none reported (its agent runs none).
 */
export type ServiceHealth = 'passing' | 'pending' | 'failing';

/** The lists of an app without machines (callers get them read-only). */
const noLists: { all: Target[]; routable: Target[] } = { all: [], routable: [] };

/** Fly's defaults when a service declares no concurrency. */
export const defaultSoftLimit = 20;
export const defaultHardLimit = 25;

interface Entry {
  row: MachineRoute;
  /** Per service index; replaced rows keep their counters so requests in flight release the same object. */
  loads: ServiceLoad[];
  /** Per service index, from the row's checks (worked out once per row, not per request). */
  health: ServiceHealth[];
}

export class RouteTable {
  readonly #byApp = new Map<string, Map<string, Entry>>();
  readonly #appOf = new Map<string, string>();
  readonly #listeners = new Set<(row: MachineRoute | undefined, id: string) => void>();
  readonly #changeWaiters = new Set<() => void>();
  /**
   * targets() and routable() per app, protocol and port, made once per change of the table
   * rather than per request: every request asks, machines change rarely. Cleared by every change.
   */
  readonly #lists = new Map<string, { all: Target[]; routable: Target[] }>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Adds or changes the machine according to its row (any state: stopped ones are kept for autostart). */
  upsert(row: MachineRoute): void {
    const previousApp = this.#appOf.get(row.id);
    if (previousApp !== undefined && previousApp !== row.app) this.remove(row.id);
    let machines = this.#byApp.get(row.app);
    if (machines === undefined) {
      machines = new Map();
      this.#byApp.set(row.app, machines);
    }
    const existing = machines.get(row.id);
    const loads = row.services.map((_, i) => existing?.loads[i] ?? { inFlight: 0, lastActiveMs: this.#now() });
    machines.set(row.id, { row, loads, health: servicesHealth(row) });
    this.#appOf.set(row.id, row.app);
    this.#lists.clear();
    for (const l of this.#listeners) l(row, row.id);
    this.#changed();
  }

  remove(machineId: string): void {
    const app = this.#appOf.get(machineId);
    if (app === undefined) return;
    this.#appOf.delete(machineId);
    const machines = this.#byApp.get(app);
    machines?.delete(machineId);
    if (machines?.size === 0) this.#byApp.delete(app);
    this.#lists.clear();
    for (const l of this.#listeners) l(undefined, machineId);
    this.#changed();
  }

  /** Called after every upsert or removal; returns the unsubscribe function. */
  onChange(listener: (row: MachineRoute | undefined, id: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(machineId: string): MachineRoute | undefined {
    const app = this.#appOf.get(machineId);
    return app === undefined ? undefined : this.#byApp.get(app)?.get(machineId)?.row;
  }

  machines(app: string): MachineRoute[] {
    return [...(this.#byApp.get(app)?.values() ?? [])].map((e) => e.row);
  }

  apps(): string[] {
    return [...this.#byApp.keys()];
  }

  /** Every public port some machine declares for `protocol`, with the handlers declared on it. */
  publicPorts(protocol: Protocol = 'tcp'): Map<number, { handlers: Set<string>; apps: Set<string> }> {
    const out = new Map<number, { handlers: Set<string>; apps: Set<string> }>();
    for (const [app, machines] of this.#byApp) {
      for (const { row } of machines.values()) {
        for (const s of row.services) {
          if (s.protocol !== protocol) continue;
          for (const p of s.ports) {
            for (const port of portsOf(p)) {
              let slot = out.get(port);
              if (slot === undefined) out.set(port, (slot = { handlers: new Set(), apps: new Set() }));
              for (const h of p.handlers) slot.handlers.add(h);
              slot.apps.add(app);
            }
          }
        }
      }
    }
    return out;
  }

  /** The apps with a machine (in any state) whose service declares `publicPort` raw: neither `http` nor `tls`, so no host name routes it. */
  rawClaimants(publicPort: number, protocol: Protocol = 'tcp'): string[] {
    return this.apps().filter((app) => this.targets(app, publicPort, protocol).some((t) => isRawPort(t.service.protocol, t.portConfig)));
  }

  /** The app's services on `publicPort` of every machine in any state (what the port means for the app). */
  targets(app: string, publicPort: number, protocol: Protocol = 'tcp'): readonly Target[] {
    return this.#listsOf(app, publicPort, protocol).all;
  }

  /** Machines that may take new work now: started, with their service's checks passing. */
  routable(app: string, publicPort: number, protocol: Protocol = 'tcp'): readonly Target[] {
    return this.#listsOf(app, publicPort, protocol).routable;
  }

  #listsOf(app: string, publicPort: number, protocol: Protocol): { all: Target[]; routable: Target[] } {
    const machines = this.#byApp.get(app);
    // Not kept for a name without machines: every Host a client makes up would add one.
    if (machines === undefined) return noLists;
    const key = `${app} ${protocol} ${publicPort}`;
    let lists = this.#lists.get(key);
    if (lists === undefined) {
      const all: Target[] = [];
      for (const entry of machines.values()) {
        const t = targetOf(entry, publicPort, protocol);
        if (t !== undefined) all.push(t);
      }
      lists = { all, routable: all.filter((t) => this.takesWork(t)) };
      this.#lists.set(key, lists);
    }
    return lists;
  }


  /** Whether the target may take new work now: its machine is started and its service's checks pass. */
  takesWork(t: Target): boolean {
    return t.health === 'passing' && this.get(t.machineId)?.state === 'started';
  }

  /**
   * Where new work goes among `targets`: machines under their soft limit first, then those under
   * their hard limit; the least loaded of that group, ties broken at random so equal machines
   * share the load. Undefined when every one is at its hard limit (or there are none).
   */
  static pick(targets: readonly Target[], random: () => number): Target | undefined {
    let best: Target[] = [];
    let bestRank = Infinity;
    for (const t of targets) {
      if (t.load.inFlight >= t.hardLimit) continue;
      // Rank: under soft limit beats over it; then fewer in flight.
      const rank = (t.load.inFlight >= t.softLimit ? 1e9 : 0) + t.load.inFlight;
      if (rank < bestRank) {
        best = [t];
        bestRank = rank;
      } else if (rank === bestRank) best.push(t);
    }
    return best.length === 0 ? undefined : best[Math.floor(random() * best.length)];
  }

  acquire(t: Target): void {
    if (t.load.inFlight === 0) t.load.lastActiveMs = this.#now();
    t.load.inFlight += 1;
  }

  release(t: Target): void {
    t.load.inFlight -= 1;
    if (t.load.inFlight === 0) t.load.lastActiveMs = this.#now();
    this.#changed();
  }

  /**
   * Resolves at the next release of any load or change of any machine, or after `ms`; a hint to
   * look again (for a slot, or a machine whose checks pass), not a reservation.
   */
  nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#changeWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#changeWaiters.add(done);
    });
  }

  #changed(): void {
    for (const w of [...this.#changeWaiters]) w();
  }

  /** Monotonic ms since the service last had load, or 0 when it has load now. */
  idleMs(t: Target): number {
    return t.load.inFlight > 0 ? 0 : this.#now() - t.load.lastActiveMs;
  }
}

/** Each service's health, as Fly gates routing: by the service's own checks; top-level checks are informational. */
function servicesHealth(row: MachineRoute): ServiceHealth[] {
  const reported = new Map((row.checks ?? []).map((c) => [c.name, c.status]));
  return serviceCheckNames(row.services).map((names) => {
    const statuses = names.map((name) => reported.get(name)).filter((status) => status !== undefined);
    return statuses.includes('critical') ? 'failing' : statuses.some((status) => status !== 'passing') ? 'pending' : 'passing';
  });
}

function portsOf(p: PortConfig): number[] {
  if (p.port !== undefined) return [p.port];
  if (p.start_port === undefined || p.end_port === undefined) return [];
  const out: number[] = [];
  for (let port = p.start_port; port <= p.end_port && out.length < portRangeMax; port++) out.push(port);
  return out;
}

/** A port range longer than this is cut (a listener per port: bound the sockets one config can open). */
const portRangeMax = 64;

function targetOf(entry: Entry, publicPort: number, protocol: Protocol): Target | undefined {
  const { row } = entry;
  for (let i = 0; i < row.services.length; i++) {
    const service = row.services[i]!;
    if (service.protocol !== protocol) continue;
    for (const p of service.ports) {
      const ranged = p.port === undefined && p.start_port !== undefined && p.end_port !== undefined && publicPort >= p.start_port && publicPort <= p.end_port;
      if (p.port !== publicPort && !ranged) continue;
      const softLimit = service.concurrency?.soft_limit ?? defaultSoftLimit;
      return {
        machineId: row.id,
        app: row.app,
        region: row.region,
        hostId: row.hostId,
        address: row.address,
        port: ranged ? publicPort : service.internal_port,
        service,
        portConfig: p,
        load: entry.loads[i]!,
        health: entry.health[i]!,
        softLimit,
        hardLimit: Math.max(softLimit, service.concurrency?.hard_limit ?? defaultHardLimit),
      };
    }
  }
  return undefined;
}
