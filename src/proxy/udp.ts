/**
 * UDP services: one socket per public UDP port relays datagrams to machines of the app that owns
 * the port. Each client flow (its address and port) is given to a started machine of this
 * region — the least loaded, a flow counting as one connection against the service's limits —
 * and stays on it (sticky) while that machine takes work. Each flow has its own socket towards
 * the machine, so the machine's replies find their way back to that client. A flow is forgotten
 * after `udpFlowIdleMs` without a datagram either way; flows are bounded per port and per app.
 * Datagrams the proxy cannot place (no owner, no machine, a bound reached) are dropped, as UDP
 * allows; no machine is woken for them.
 */
import { createSocket, type RemoteInfo, type Socket as DgramSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../lib/index.ts';
import { decrementCount } from './counts.ts';
import type { ProxyLimits } from './limits.ts';
import { RouteTable, type Target } from './route-table.ts';

export interface UdpRelayDeps {
  routes: RouteTable;
  region: string;
  limits: ProxyLimits;
  random: () => number;
  logger: Logger;
  /** The one app the public UDP port is served to, or undefined for none. */
  ownerOf(publicPort: number): string | undefined;
  /** Flows per app across every UDP port of this proxy (shared by the listeners). */
  flowsPerApp: Map<string, number>;
}

interface Flow {
  app: string;
  target: Target;
  upstream: DgramSocket;
  lastActiveMs: number;
  timer: NodeJS.Timeout;
}

export class UdpListener {
  readonly publicPort: number;
  readonly #socket: DgramSocket;
  readonly #d: UdpRelayDeps;
  readonly #flows = new Map<string, Flow>();
  readonly #unsubscribe: () => void;

  private constructor(publicPort: number, socket: DgramSocket, deps: UdpRelayDeps) {
    this.publicPort = publicPort;
    this.#socket = socket;
    this.#d = deps;
    socket.on('message', (msg, client) => this.#fromClient(msg, client));
    socket.on('error', (err) => deps.logger.warn({ publicPort, err: String(err) }, 'udp listener error'));
    // A flow whose machine stops taking work (gone, stopped, failing its checks), or whose app no
    // longer owns the port, ends: the client's next datagram is placed anew.
    this.#unsubscribe = deps.routes.onChange((_row, machineId) => {
      if (this.#flows.size === 0) return;
      const owner = deps.ownerOf(publicPort);
      for (const [key, flow] of this.#flows) {
        if (flow.app !== owner || (flow.target.machineId === machineId && !this.#stillTakes(flow))) this.#end(key, flow);
      }
    });
  }

  /** Binds `host:port` for public UDP port `publicPort`. */
  static async open(publicPort: number, host: string, port: number, deps: UdpRelayDeps): Promise<UdpListener> {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpListener(publicPort, socket, deps);
  }

  /** The local port the listener is bound to. */
  get port(): number {
    return this.#socket.address().port;
  }

  /** Flows being relayed now. */
  get flowCount(): number {
    return this.#flows.size;
  }

  close(): void {
    this.#unsubscribe();
    for (const [key, flow] of this.#flows) this.#end(key, flow);
    this.#socket.close();
  }

  #fromClient(msg: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    const flow = this.#flows.get(key) ?? this.#start(key, client);
    if (flow === undefined) return;
    flow.lastActiveMs = performance.now();
    flow.upstream.send(msg, flow.target.port, flow.target.address);
  }

  /** A new flow for the client on a machine that can take it, or undefined (the datagram is dropped). */
  #start(key: string, client: RemoteInfo): Flow | undefined {
    const { routes, limits } = this.#d;
    const app = this.#d.ownerOf(this.publicPort);
    if (app === undefined) return undefined;
    const appFlows = this.#d.flowsPerApp.get(app) ?? 0;
    if (this.#flows.size >= limits.udpFlowsPerListenerMax || appFlows >= limits.udpFlowsPerAppMax) return undefined;
    const local = routes.routable(app, this.publicPort, 'udp').filter((t) => t.region === this.#d.region);
    const target = RouteTable.pick(local, this.#d.random);
    if (target === undefined) return undefined;
    routes.acquire(target);
    this.#d.flowsPerApp.set(app, appFlows + 1);
    const upstream = createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
    upstream.on('message', (reply, from) => {
      if (from.port !== target.port || from.address !== target.address) return;
      flow.lastActiveMs = performance.now();
      this.#socket.send(reply, client.port, client.address);
    });
    upstream.on('error', (err) => {
      this.#d.logger.info({ app, machine: target.machineId, err: String(err) }, 'udp flow to a machine failed');
      this.#end(key, flow);
    });
    const flow: Flow = { app, target, upstream, lastActiveMs: performance.now(), timer: setTimeout(() => this.#expire(key, flow), limits.udpFlowIdleMs) };
    this.#flows.set(key, flow);
    return flow;
  }

  /** Ends the flow if it has been idle long enough; otherwise looks again when it could be. */
  #expire(key: string, flow: Flow): void {
    const idleMs = performance.now() - flow.lastActiveMs;
    if (idleMs >= this.#d.limits.udpFlowIdleMs) this.#end(key, flow);
    else flow.timer = setTimeout(() => this.#expire(key, flow), this.#d.limits.udpFlowIdleMs - idleMs);
  }

  #stillTakes(flow: Flow): boolean {
    const now = this.#d.routes.targets(flow.app, this.publicPort, 'udp').find((t) => t.machineId === flow.target.machineId);
    return now !== undefined && this.#d.routes.takesWork(now);
  }

  #end(key: string, flow: Flow): void {
    if (this.#flows.get(key) !== flow) return;
    this.#flows.delete(key);
    clearTimeout(flow.timer);
    flow.upstream.close();
    this.#d.routes.release(flow.target);
    decrementCount(this.#d.flowsPerApp, flow.app);
  }
}
