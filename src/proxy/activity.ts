/**
 * What a region's proxies share so that one of them can decide autostop for every machine of
 * the region. Any proxy of a region delivers to any machine there (on other hosts too, over the
 * private network), so no proxy's own traffic says whether a machine is idle: each publishes
 * when machines last had traffic through it, coarsely (at most once per publish interval per
 * machine that had traffic), and the region's one decider takes the latest over all of them.
 */
import type { Clock, Logger } from '../lib/index.ts';
import type { MachineRoute, RouteTable, Target } from './route-table.ts';

/** When a machine last had traffic (a request or connection) through one proxy. */
export interface MachineActivity {
  machineId: string;
  /** Wall-clock ms. */
  lastActiveAt: number;
}

/**
 * The region's proxies' shared view, provided by the platform composition (the state layer on a
 * fleet, src/fleet/proxy-activity.ts). Without one a proxy is alone: it decides by its own traffic.
 */
export interface RegionActivity {
  /**
   * Records when machines last had traffic through this proxy, and forgets machines it no longer
   * routes. Throws when it could not; the same activity is offered again at the next interval.
   */
  publish(active: readonly MachineActivity[], gone: readonly string[]): void;
  /** The latest traffic through any proxy of the region, by machine id (wall-clock ms). */
  lastActive(): ReadonlyMap<string, number>;
  /** Whether this proxy decides autostop for its region now; the platform keeps that to one live proxy per region. */
  decides(): boolean;
}

/**
 * How often activity is published: a tenth of the idle time, at most 10 s, so the decider hears
 * of traffic long before the machine could count as idle, and each machine with traffic costs
 * at most one small write per interval per proxy.
 */
export function activityPublishIntervalMs(idleStopMs: number): number {
  return Math.max(10, Math.min(10_000, Math.floor(idleStopMs / 10)));
}

/** The machine's services that have a public port, TCP and UDP, as targets (their load through this proxy: requests, connections, flows). */
export function serviceTargets(routes: RouteTable, m: MachineRoute): Target[] {
  const out: Target[] = [];
  for (const s of m.services) {
    const port = s.ports[0]?.port ?? s.ports[0]?.start_port;
    if (port === undefined) continue;
    const t = routes.targets(m.app, port, s.protocol).find((x) => x.machineId === m.id);
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** Monotonic ms of the machine's latest traffic through this proxy (now while it has some in flight). */
export function lastTrafficMs(targets: readonly Target[], nowMs: number): number {
  return targets.some((t) => t.load.inFlight > 0) ? nowMs : Math.max(...targets.map((t) => t.load.lastActiveMs));
}

interface Mark {
  /** Monotonic ms of the traffic last published (or of the load's start, before any traffic). */
  trafficMs: number;
  published: boolean;
}

/** Publishes this proxy's traffic per machine into the region's shared view, every interval. */
export class ActivityReporter {
  readonly #routes: RouteTable;
  readonly #activity: RegionActivity;
  /** The route table's clock (monotonic ms) and the wall clock the activity is published in. */
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #marks = new Map<string, Mark>();

  constructor(routes: RouteTable, activity: RegionActivity, clock: Clock, logger: Logger) {
    this.#routes = routes;
    this.#activity = activity;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** One pass: machines with traffic since their last publication, and those published that are gone. */
  report(): void {
    const nowMs = this.#clock.monotonicMs();
    const wallNow = this.#clock.now();
    const active: MachineActivity[] = [];
    const next = new Map<string, Mark>();
    for (const app of this.#routes.apps()) {
      for (const m of this.#routes.machines(app)) {
        const targets = serviceTargets(this.#routes, m);
        if (targets.length === 0) continue;
        const trafficMs = lastTrafficMs(targets, nowMs);
        const mark = this.#marks.get(m.id);
        // A machine first seen idle has had no traffic here yet: nothing to tell.
        if ((mark === undefined && targets.every((t) => t.load.inFlight === 0)) || (mark !== undefined && trafficMs <= mark.trafficMs)) {
          next.set(m.id, mark ?? { trafficMs, published: false });
          continue;
        }
        active.push({ machineId: m.id, lastActiveAt: Math.round(wallNow - (nowMs - trafficMs)) });
        next.set(m.id, { trafficMs, published: true });
      }
    }
    const gone = [...this.#marks].filter(([id, mark]) => mark.published && !next.has(id)).map(([id]) => id);
    if (active.length === 0 && gone.length === 0) {
      this.#keep(next);
      return;
    }
    try {
      this.#activity.publish(active, gone);
      this.#keep(next);
    } catch (err) {
      // Marks stay as they were, so the same activity (or newer) goes out at the next pass.
      this.#logger.warn({ machines: active.length, gone: gone.length, err: String(err) }, 'autostop: publishing machine activity failed; retrying at the next interval');
    }
  }

  #keep(next: Map<string, Mark>): void {
    this.#marks.clear();
    for (const [id, mark] of next) this.#marks.set(id, mark);
  }
}
