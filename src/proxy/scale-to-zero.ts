/**
 * Scale to zero: autostart wakes a stopped machine when a request needs it and holds the
 * request until the machine accepts connections; autostop stops machines that have been idle
 * region-wide (what the region's proxies share for it is in activity.ts).
 * The proxy never creates or destroys machines; it starts and stops them through MachineControl,
 * which the platform composition provides (on one host: the local agent's API).
 */
import { systemClock, type Clock, type Logger } from '../lib/index.ts';
import { ActivityReporter, activityPublishIntervalMs, lastTrafficMs, serviceTargets, type RegionActivity } from './activity.ts';
import { connectWithin } from './connect.ts';
import type { MachineRoute, RouteTable, Target } from './route-table.ts';

/** How the proxy starts and stops machines. Calls may run concurrently for different machines. */
export interface MachineControl {
  /** Asks for the machine to start; resolves once the platform accepted the start (not when it answers). */
  start(machine: MachineRoute): Promise<void>;
  /** Asks for the machine to stop; resolves once the platform accepted the stop. */
  stop(machine: MachineRoute): Promise<void>;
}

/** Time between connection attempts while a woken machine boots. */
const wakeProbeIntervalMs = 10;

export class Autostarter {
  readonly #routes: RouteTable;
  readonly #control: MachineControl;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** One wake per machine at a time; every request for it waits on the same one. */
  readonly #waking = new Map<string, Promise<void>>();

  constructor(routes: RouteTable, control: MachineControl, timeoutMs: number, logger: Logger) {
    this.#routes = routes;
    this.#control = control;
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
  }

  /**
   * Starts the target's machine unless it is started already, then resolves once it is started
   * in the route table and its service port accepts a TCP connection. Rejects with a message
   * saying what did not happen within the timeout.
   */
  wake(target: Target): Promise<void> {
    let waking = this.#waking.get(target.machineId);
    if (waking === undefined) {
      waking = this.#wake(target).finally(() => this.#waking.delete(target.machineId));
      this.#waking.set(target.machineId, waking);
    }
    return waking;
  }

  /** The wake in progress for this machine, if any: requests routed to it wait for it to answer. */
  waking(machineId: string): Promise<void> | undefined {
    return this.#waking.get(machineId);
  }

  async #wake(target: Target): Promise<void> {
    const started = performance.now();
    const deadline = started + this.#timeoutMs;
    const row = this.#routes.get(target.machineId);
    if (row === undefined) throw new Error(`machine ${target.machineId} is gone`);
    if (row.state !== 'started') {
      try {
        await this.#control.start(row);
      } catch (err) {
        // The table may be behind: a machine woken a moment ago refuses a second start. It
        // counts as woken if it answers now; otherwise the start's own error is the answer.
        const now = this.#routes.get(row.id) ?? row;
        if (!(await canConnect(now.address, target.port, wakeProbeIntervalMs * 10))) throw err;
      }
    }
    const accepted = performance.now();
    // The machine answers before the route table hears it started (that comes through the
    // state layer): probe its port directly, at the address the table has for it now.
    for (;;) {
      const now = this.#routes.get(target.machineId);
      if (now === undefined) throw new Error(`machine ${target.machineId} was removed while starting`);
      if (await canConnect(now.address, target.port, Math.max(1, deadline - performance.now()))) break;
      if (performance.now() + wakeProbeIntervalMs > deadline) throw new Error(`machine ${target.machineId} did not accept connections on port ${target.port} within ${this.#timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, wakeProbeIntervalMs));
    }
    const doneMs = performance.now();
    this.#logger.info({ app: row.app, machine: row.id, start_ms: Math.round(accepted - started), answering_ms: Math.round(doneMs - started) }, 'autostart: machine woken for a request');
  }
}

async function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const socket = await connectWithin(host, port, timeoutMs);
  socket?.destroy();
  return socket !== undefined;
}

export interface AutostopOptions {
  /** Only machines of this region are considered (each region's decider looks after its own). */
  region: string;
  idleStopMs: number;
  intervalMs: number;
  /** What the region's proxies share; without it this proxy is its region's only one. */
  activity?: RegionActivity;
  /** Default: the system clock. Its monotonic ms must be the route table's clock. */
  clock?: Clock;
}

/** A stop the route table has not shown within this long is forgotten (the machine was started again before its stop showed). */
const stopSettleMs = 60_000;

/**
 * Autostop for a region, decided by one proxy: the region's decider when its proxies share a
 * RegionActivity, this proxy when it is alone. Every interval, per app, it stops at most one
 * started machine of the region, on any host, that has been idle for `idleStopMs`: no traffic
 * through any proxy of the region (its own, and what the others published) and not started
 * within that time. It keeps the service's `min_machines_running` started in the region and,
 * with several started, stops one only when the others are not busy: excess = started −
 * (machines over their soft limit + 1) must be at least one (the load this proxy sees). A
 * machine whose stop was asked for counts as stopped until the table shows it, so no pass stops
 * below the minimum while a stop travels through the state layer. A proxy that becomes the
 * decider acts from its second pass on, so one that just started or came back has heard of the
 * others first. A machine none of whose services has a public port is never stopped: no proxy
 * sees its traffic; nor is one whose only public services are UDP (its flows count as traffic
 * where it has TCP ones too), since no datagram wakes a machine. `autostop = "suspend"` stops too: the platform has no suspend yet, so such
 * machines cold-start when woken.
 */
export class Autostopper {
  readonly #routes: RouteTable;
  readonly #control: MachineControl;
  readonly #opts: AutostopOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #reporter: ActivityReporter | undefined;
  /** Machines whose stop was asked for (monotonic ms when), until the table shows them stopped. */
  readonly #stopping = new Map<string, number>();
  /** When the table showed each started machine turn started (monotonic ms). */
  readonly #startedAt = new Map<string, number>();
  readonly #unsubscribe: () => void;
  #decidedLastPass = false;
  #timer: NodeJS.Timeout | undefined;
  #reportTimer: NodeJS.Timeout | undefined;

  constructor(routes: RouteTable, control: MachineControl, opts: AutostopOptions, logger: Logger) {
    this.#routes = routes;
    this.#control = control;
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = logger;
    this.#reporter = opts.activity === undefined ? undefined : new ActivityReporter(routes, opts.activity, this.#clock, logger);
    const now = this.#clock.monotonicMs();
    for (const app of routes.apps()) for (const m of routes.machines(app)) if (m.state === 'started') this.#startedAt.set(m.id, now);
    this.#unsubscribe = routes.onChange((row, id) => {
      if (row?.state !== 'started') this.#startedAt.delete(id);
      else if (!this.#startedAt.has(id)) this.#startedAt.set(id, this.#clock.monotonicMs());
    });
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#opts.intervalMs);
    this.#timer.unref();
    const reporter = this.#reporter;
    if (reporter === undefined) return;
    this.#reportTimer ??= setInterval(() => reporter.report(), activityPublishIntervalMs(this.#opts.idleStopMs));
    this.#reportTimer.unref();
  }

  /** Stops for good (the proxy is closing). */
  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#reportTimer);
    this.#timer = this.#reportTimer = undefined;
    this.#unsubscribe();
  }

  /** One pass over every app; returns the machines it asked to stop (none unless this proxy decides). */
  tick(): string[] {
    const decides = this.#opts.activity?.decides() ?? true;
    const settled = decides && (this.#opts.activity === undefined || this.#decidedLastPass);
    this.#decidedLastPass = decides;
    if (!settled) return [];
    this.#forgetSettledStops();
    const shared = this.#opts.activity?.lastActive() ?? new Map<string, number>();
    const stopped: string[] = [];
    for (const app of this.#routes.apps()) {
      const victim = this.#idleVictim(app, shared);
      if (victim === undefined) continue;
      stopped.push(victim.id);
      this.#stopping.set(victim.id, this.#clock.monotonicMs());
      const mode = victim.services.find((s) => autostopMode(s.autostop) !== 'off')?.autostop;
      this.#logger.info({ app, machine: victim.id, host: victim.hostId, autostop: mode }, mode === 'suspend' ? 'autostop: machine idle, stopping it (suspend is done as stop)' : 'autostop: machine idle, stopping it');
      this.#control.stop(victim).catch((err: unknown) => {
        this.#stopping.delete(victim.id);
        this.#logger.warn({ app, machine: victim.id, host: victim.hostId, err: String(err) }, 'autostop: stop failed');
      });
    }
    return stopped;
  }

  #forgetSettledStops(): void {
    const now = this.#clock.monotonicMs();
    for (const [id, askedAt] of this.#stopping) {
      if (this.#routes.get(id)?.state !== 'started' || now - askedAt > stopSettleMs) this.#stopping.delete(id);
    }
  }

  #idleVictim(app: string, shared: ReadonlyMap<string, number>): MachineRoute | undefined {
    const started = this.#routes
      .machines(app)
      .filter((m) => m.state === 'started' && m.region === this.#opts.region && !this.#stopping.has(m.id));
    if (started.length === 0) return undefined;
    const keep = Math.max(0, ...started.flatMap((m) => m.services.map((s) => s.min_machines_running ?? 0)));
    if (started.length - 1 < keep) return undefined;
    const overSoft = started.filter((m) => serviceTargets(this.#routes, m).some((t) => t.load.inFlight > t.softLimit)).length;
    if (started.length > 1 && started.length - (overSoft + 1) < 1) return undefined;
    const now = this.#clock.monotonicMs();
    const wallNow = this.#clock.now();
    let best: { machine: MachineRoute; idleMs: number } | undefined;
    for (const m of started) {
      if (!m.services.some((s) => autostopMode(s.autostop) !== 'off')) continue;
      const targets = serviceTargets(this.#routes, m);
      // Nothing wakes a machine for a datagram: one serving only UDP is left running.
      if (!targets.some((t) => t.service.protocol === 'tcp')) continue;
      const idleMs = Math.min(now - lastTrafficMs(targets, now), wallNow - (shared.get(m.id) ?? -Infinity), now - (this.#startedAt.get(m.id) ?? -Infinity));
      if (idleMs < this.#opts.idleStopMs) continue;
      if (best === undefined || idleMs > best.idleMs) best = { machine: m, idleMs };
    }
    return best?.machine;
  }
}

function autostopMode(value: boolean | 'off' | 'stop' | 'suspend' | undefined): 'off' | 'stop' | 'suspend' {
  if (value === true) return 'stop';
  if (value === false || value === undefined) return 'off';
  return value;
}
