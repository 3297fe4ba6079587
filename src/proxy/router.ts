/**
 * Where one request (or TCP connection) goes: a machine of this proxy's region when one can
 * take it; otherwise the proxy of the nearest region that has one, which delivers it; otherwise a
 * stopped machine woken for it; otherwise a clear refusal. Requests a peer proxy forwarded here
 * are only ever delivered in this region.
 */
import type { ProxyLimits } from './limits.ts';
import type { PeerProxy, Peers } from './peers.ts';
import type { ProxyErrorCode } from './responses.ts';
import { RouteTable, type Target } from './route-table.ts';
import type { Autostarter } from './scale-to-zero.ts';

export type Route =
  | { kind: 'machine'; target: Target }
  | { kind: 'peer'; peer: PeerProxy; region: string }
  | { kind: 'refused'; status: number; code: ProxyErrorCode; message: string; hint: string };

export interface RouteQuery {
  app: string;
  publicPort: number;
  /** Forwarded by a peer proxy: deliver here or refuse, never forward again. */
  fromPeer: boolean;
  /** Machines and peer hosts already tried for this request. */
  tried: Set<string>;
  /** Only this machine (fly-force-instance-id, or a replay's instance=). */
  instance?: string | undefined;
  /** Not this machine (a replay's elsewhere=true). */
  notInstance?: string | undefined;
  /** Only these regions (a replay's region=); undefined = any. */
  regions?: ReadonlySet<string> | undefined;
}

export interface RouterDeps {
  routes: RouteTable;
  region: string;
  limits: ProxyLimits;
  random: () => number;
  peers: Peers | undefined;
  autostarter: Autostarter | undefined;
}

export class Router {
  readonly #d: RouterDeps;

  constructor(deps: RouterDeps) {
    this.#d = deps;
  }

  /**
   * The common case without waiting: a local machine that can take the request now (its load
   * taken), or undefined when route() has to decide.
   */
  pickNow(q: RouteQuery): Route | undefined {
    const { routes, region } = this.#d;
    const local: Target[] = [];
    for (const t of routes.routable(q.app, q.publicPort)) if (t.region === region && allowed(q, t) && !q.tried.has(t.machineId)) local.push(t);
    const picked = RouteTable.pick(local, this.#d.random);
    if (picked === undefined || picked.load.inFlight + 1 > picked.softLimit || this.#d.autostarter?.waking(picked.machineId) !== undefined) return undefined;
    routes.acquire(picked);
    return { kind: 'machine', target: picked };
  }

  /**
   * Decides, waiting for a slot or a woken machine when that is the answer. A machine target
   * comes back with its load already taken; the caller releases it. Woken machines go through
   * the same pick as started ones, so a burst that wakes a machine never puts more on it than its
   * hard limit: the rest wait for a slot (or for another sleeper woken for them), then get a 503.
   */
  async route(q: RouteQuery): Promise<Route> {
    const { routes, region } = this.#d;
    // Machines woken for this request: they answer, though the table may not say started yet.
    const woken = new Set<string>();
    let deadline = performance.now() + this.#d.limits.hardLimitWaitMs;
    let checksDeadline: number | undefined;
    for (;;) {
      const all = routes.targets(q.app, q.publicPort).filter((t) => allowed(q, t));
      if (all.length === 0) return refusedNothing(q, routes.machines(q.app).length > 0);
      const routable = all.filter((t) => !q.tried.has(t.machineId) && (routes.takesWork(t) || (woken.has(t.machineId) && t.health !== 'failing')));
      const local = routable.filter((t) => t.region === region);
      const picked = RouteTable.pick(local, this.#d.random);
      if (picked !== undefined) {
        routes.acquire(picked);
        if (picked.load.inFlight > picked.softLimit) this.#wakeSpare(all);
        // Started in the table is not yet answering: a request for a machine being woken waits with the one that woke it.
        const waking = this.#d.autostarter?.waking(picked.machineId);
        if (waking !== undefined) await waking.catch(() => undefined);
        return { kind: 'machine', target: picked };
      }
      // Traffic leaves the region only when no local machine can take it.
      const remote = this.#nearestPeer(q, routable.filter((t) => t.region !== region));
      if (remote !== undefined) return remote;
      const sleeper = this.#localSleeper(q, all, woken);
      if (local.length > 0) {
        const leftMs = deadline - performance.now();
        if (leftMs <= 0) {
          return { kind: 'refused', status: 503, code: 'PL', message: `every machine of app '${q.app}' is at its hard concurrency limit`, hint: 'raise services.concurrency.hard_limit or run more machines: aloft machine clone' };
        }
        // Every machine is full: whichever comes first, a freed slot or another machine woken for the overflow.
        const wake = sleeper === undefined ? undefined : this.#wake(sleeper, q, woken);
        await Promise.race([routes.nextChange(leftMs), ...(wake === undefined ? [] : [wake])]);
        continue;
      }
      // A started machine whose service checks have not run yet is about to take work: wait for them
      // (as long as a wake may take) rather than refuse or wake another machine.
      if (all.some((t) => t.region === region && !q.tried.has(t.machineId) && t.health === 'pending' && routes.get(t.machineId)?.state === 'started')) {
        checksDeadline ??= performance.now() + this.#d.limits.autostartTimeoutMs;
        const leftMs = checksDeadline - performance.now();
        if (leftMs > 0) {
          await routes.nextChange(leftMs);
          continue;
        }
      }
      if (sleeper !== undefined) {
        const failure = await this.#wake(sleeper, q, woken);
        if (failure !== undefined) return failure;
        // The wait for a slot on the woken machines starts now, not before the boot.
        deadline = performance.now() + this.#d.limits.hardLimitWaitMs;
        continue;
      }
      return this.#refusedAsleep(q, all);
    }
  }

  /** A stopped machine of this region with autostart that this proxy can wake for the request. */
  #localSleeper(q: RouteQuery, all: Target[], woken: ReadonlySet<string>): Target | undefined {
    if (this.#d.autostarter === undefined) return undefined;
    return all.find((t) => t.region === this.#d.region && t.service.autostart === true && !woken.has(t.machineId) && !q.tried.has(t.machineId) && isWakeable(this.#d.routes.get(t.machineId)?.state));
  }

  /** Wakes `target` for this request; undefined once it answers, else the refusal to give (and it is not tried again). */
  async #wake(target: Target, q: RouteQuery, woken: Set<string>): Promise<Route | undefined> {
    try {
      await this.#d.autostarter!.wake(target);
      woken.add(target.machineId);
      return undefined;
    } catch (err) {
      q.tried.add(target.machineId);
      return { kind: 'refused', status: 503, code: 'PM', message: `could not wake machine ${target.machineId} of app '${q.app}': ${(err as Error).message}`, hint: `check it: aloft machine status ${target.machineId} -a ${q.app}` };
    }
  }

  /** Nothing here can take the request: another region's sleeping machine, or a refusal saying why. */
  #refusedAsleep(q: RouteQuery, all: Target[]): Route {
    const sleeping = all.filter((t) => t.service.autostart === true && isWakeable(this.#d.routes.get(t.machineId)?.state) && !q.tried.has(t.machineId));
    const remote = this.#nearestPeer(q, sleeping.filter((t) => t.region !== this.#d.region));
    if (remote !== undefined) return remote;
    const unhealthy = all.filter((t) => t.region === this.#d.region && t.health !== 'passing' && this.#d.routes.get(t.machineId)?.state === 'started');
    const why =
      unhealthy.length > 0
        ? `and the service checks of ${unhealthy.map((t) => `${t.machineId} (${t.health === 'failing' ? 'failing' : 'not passed yet'})`).join(', ')} do not pass`
        : sleeping.length > 0 && this.#d.autostarter === undefined
          ? 'and this proxy cannot start machines'
          : 'and none has autostart';
    const hint = unhealthy.length > 0 ? `see its checks: aloft machine status ${unhealthy[0]!.machineId} -a ${q.app}` : `start one: aloft machine start -a ${q.app}, or check aloft machine list -a ${q.app}`;
    return { kind: 'refused', status: 503, code: 'PM', message: `app '${q.app}' has no started machine that can take this request (${all.length} machine(s) on port ${q.publicPort}, ${why})`, hint };
  }

  /** The nearest answering peer proxy of a region where one of `targets` is, unless this request came from a peer. */
  #nearestPeer(q: RouteQuery, targets: Target[]): Route | undefined {
    if (q.fromPeer || this.#d.peers === undefined || targets.length === 0) return undefined;
    const peer = this.#d.peers.nearestIn(new Set(targets.map((t) => t.region))).find((p) => !q.tried.has(`peer:${p.hostId}`));
    return peer === undefined ? undefined : { kind: 'peer', peer, region: peer.region };
  }

  /** Every started machine is past its soft limit: wake a stopped local one for the requests to come. */
  #wakeSpare(all: Target[]): void {
    const spare = all.find((t) => t.region === this.#d.region && t.service.autostart === true && isWakeable(this.#d.routes.get(t.machineId)?.state));
    if (spare !== undefined) this.#d.autostarter?.wake(spare).catch(() => undefined);
  }
}

function isWakeable(state: string | undefined): boolean {
  return state === 'stopped' || state === 'suspended' || state === 'created';
}

function allowed(q: RouteQuery, t: Target): boolean {
  if (q.instance !== undefined && t.machineId !== q.instance) return false;
  if (q.notInstance !== undefined && t.machineId === q.notInstance) return false;
  return q.regions === undefined || q.regions.has(t.region);
}

function refusedNothing(q: RouteQuery, appHasMachines: boolean): Route {
  if (q.instance !== undefined || q.regions !== undefined || q.notInstance !== undefined) {
    const where = q.instance !== undefined ? `machine ${q.instance}` : q.regions !== undefined ? `region(s) ${[...q.regions].join(',')}` : 'another machine';
    return { kind: 'refused', status: 502, code: 'PA', message: `no machine of app '${q.app}' at ${where} serves port ${q.publicPort}`, hint: 'check the fly-replay header or fly-force-instance-id the request names' };
  }
  if (!appHasMachines) return { kind: 'refused', status: 503, code: 'PM', message: `app '${q.app}' has no machine`, hint: `run one: aloft machine run -a ${q.app}` };
  return { kind: 'refused', status: 404, code: 'PN', message: `app '${q.app}' serves nothing on port ${q.publicPort}`, hint: 'add the port to a service of the app: services[].ports[].port' };
}
