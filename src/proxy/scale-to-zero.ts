/**
 * Scale to zero: autostart wakes a stopped machine when a request needs it and holds the
 * request until the machine accepts connections; autostop stops machines that have been idle.
 * The proxy never creates or destroys machines; it starts and stops them through MachineControl,
 * which the platform composition provides (on one host: the local agent's API).
 */
import type { Logger } from '../lib/index.ts';
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
  /** Only machines of this region are considered (each region's proxies look after their own). */
  region: string;
  /** Only machines on this host, when given: a host's proxy stops its own host's machines. */
  hostId: string | undefined;
  idleStopMs: number;
  intervalMs: number;
}

/**
 * Every interval, per app, stops at most one machine of this region that has had no requests
 * or connections through this proxy for `idleStopMs`, as long as more machines than the
 * service's `min_machines_running` stay started, and (with several started) only when the others
 * are not busy: excess = started − (machines over their soft limit + 1) must be at least one.
 * `autostop = "suspend"` stops too: the platform has no suspend yet, so such machines cold-start
 * when woken. Idleness is what this proxy saw; traffic through other hosts' proxies to the same
 * machine is not counted, and a machine stopped while another proxy still uses it is woken again
 * by that proxy's autostart.
 */
export class Autostopper {
  readonly #routes: RouteTable;
  readonly #control: MachineControl;
  readonly #opts: AutostopOptions;
  readonly #logger: Logger;
  readonly #stopping = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(routes: RouteTable, control: MachineControl, opts: AutostopOptions, logger: Logger) {
    this.#routes = routes;
    this.#control = control;
    this.#opts = opts;
    this.#logger = logger;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass over every app; returns the machines it asked to stop. */
  tick(): string[] {
    const stopped: string[] = [];
    for (const app of this.#routes.apps()) {
      const victim = this.#idleVictim(app);
      if (victim === undefined) continue;
      stopped.push(victim.id);
      this.#stopping.add(victim.id);
      const mode = victim.services.find((s) => autostopMode(s.autostop) !== 'off')?.autostop;
      this.#logger.info({ app, machine: victim.id, autostop: mode }, mode === 'suspend' ? 'autostop: machine idle, stopping it (suspend is done as stop)' : 'autostop: machine idle, stopping it');
      this.#control
        .stop(victim)
        .catch((err: unknown) => this.#logger.warn({ app, machine: victim.id, err: String(err) }, 'autostop: stop failed'))
        .finally(() => this.#stopping.delete(victim.id));
    }
    return stopped;
  }

  #idleVictim(app: string): MachineRoute | undefined {
    const started = this.#routes
      .machines(app)
      .filter((m) => m.state === 'started' && m.region === this.#opts.region && !this.#stopping.has(m.id));
    if (started.length === 0) return undefined;
    const keep = Math.max(0, ...started.flatMap((m) => m.services.map((s) => s.min_machines_running ?? 0)));
    if (started.length - 1 < keep) return undefined;
    const overSoft = started.filter((m) => this.#loads(m).some((t) => t.load.inFlight > t.softLimit)).length;
    if (started.length > 1 && started.length - (overSoft + 1) < 1) return undefined;
    let best: { machine: MachineRoute; idleMs: number } | undefined;
    for (const m of started) {
      if (this.#opts.hostId !== undefined && m.hostId !== this.#opts.hostId) continue;
      if (!m.services.some((s) => autostopMode(s.autostop) !== 'off')) continue;
      const idleMs = Math.min(...this.#loads(m).map((t) => this.#routes.idleMs(t)));
      if (idleMs < this.#opts.idleStopMs) continue;
      if (best === undefined || idleMs > best.idleMs) best = { machine: m, idleMs };
    }
    return best?.machine;
  }

  /** The machine's services as targets (one per service with a public port), for their load. */
  #loads(m: MachineRoute): Target[] {
    const out: Target[] = [];
    for (const s of m.services) {
      const port = s.ports[0]?.port ?? s.ports[0]?.start_port;
      if (port === undefined) continue;
      const t = this.#routes.targets(m.app, port).find((x) => x.machineId === m.id);
      if (t !== undefined) out.push(t);
    }
    return out;
  }
}

function autostopMode(value: boolean | 'off' | 'stop' | 'suspend' | undefined): 'off' | 'stop' | 'suspend' {
  if (value === true) return 'stop';
  if (value === false || value === undefined) return 'off';
  return value;
}
