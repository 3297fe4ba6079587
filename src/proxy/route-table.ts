/**
 * The proxy's view of where each app can be served: started machines that expose an HTTP
 * service. Fed by machine rows (from the state layer or, on one host, from the local agent).
 */
import type { ServiceConfig } from '../lib/index.ts';

/** One machine as the proxy needs to know it. */
export interface MachineRoute {
  id: string;
  app: string;
  state: string;
  region: string;
  hostId: string;
  /** Address the proxy connects to (the machine's host-local IPv4, or 127.0.0.1 without isolation). */
  address: string;
  services: ServiceConfig[];
}

export interface Endpoint {
  machineId: string;
  app: string;
  region: string;
  address: string;
  port: number;
  /** Requests in flight to this endpoint through this proxy; used to spread load. */
  inFlight: number;
}

/** Public port whose services the proxy's HTTP listener serves. */
export const httpPublicPort = 80;

export class RouteTable {
  readonly #byApp = new Map<string, Map<string, Endpoint>>();
  readonly #appOf = new Map<string, string>();

  /** Adds, changes or removes the machine's endpoint according to its row. */
  upsert(row: MachineRoute): void {
    const port = row.state === 'started' ? httpServicePort(row.services) : undefined;
    if (port === undefined) {
      this.remove(row.id);
      return;
    }
    const previousApp = this.#appOf.get(row.id);
    if (previousApp !== undefined && previousApp !== row.app) this.remove(row.id);
    let endpoints = this.#byApp.get(row.app);
    if (endpoints === undefined) {
      endpoints = new Map();
      this.#byApp.set(row.app, endpoints);
    }
    const existing = endpoints.get(row.id);
    if (existing !== undefined) {
      // Updated in place: requests in flight hold this object and decrement its count.
      existing.region = row.region;
      existing.address = row.address;
      existing.port = port;
    } else {
      endpoints.set(row.id, { machineId: row.id, app: row.app, region: row.region, address: row.address, port, inFlight: 0 });
    }
    this.#appOf.set(row.id, row.app);
  }

  remove(machineId: string): void {
    const app = this.#appOf.get(machineId);
    if (app === undefined) return;
    this.#appOf.delete(machineId);
    const endpoints = this.#byApp.get(app);
    endpoints?.delete(machineId);
    if (endpoints?.size === 0) this.#byApp.delete(app);
  }

  endpoints(app: string): Endpoint[] {
    return [...(this.#byApp.get(app)?.values() ?? [])];
  }

  /**
   * The least-loaded endpoint of `app` not in `exclude`, ties broken at random so that equal
   * machines share the load.
   */
  pick(app: string, exclude: ReadonlySet<string>, random: () => number): Endpoint | undefined {
    let best: Endpoint[] = [];
    for (const e of this.#byApp.get(app)?.values() ?? []) {
      if (exclude.has(e.machineId)) continue;
      if (best.length === 0 || e.inFlight < best[0]!.inFlight) best = [e];
      else if (e.inFlight === best[0]!.inFlight) best.push(e);
    }
    return best.length === 0 ? undefined : best[Math.floor(random() * best.length)];
  }
}

/** The internal port of the service that answers HTTP on public port 80 (or on any port, failing that). */
export function httpServicePort(services: ServiceConfig[]): number | undefined {
  const http = services.filter((s) => s.protocol === 'tcp' && s.ports.some((p) => p.handlers.includes('http')));
  const onPort80 = http.find((s) => s.ports.some((p) => p.port === httpPublicPort));
  return (onPort80 ?? http[0])?.internal_port;
}
