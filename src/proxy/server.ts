/**
 * The edge proxy: listens on every public port the apps' services declare, routes HTTP by
 * `Host: <app>.<domain>` (HTTP/1.1, h2c and, on TLS ports, HTTP/2 by ALPN), relays plain TCP,
 * and answers every failure with a clear error body and a short code saying where it failed.
 * Where a request goes is the Router's decision; this file moves the bytes.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from '../lib/index.ts';
import type { RegionActivity } from './activity.ts';
import { declaresBody, readBody, type RequestBody } from './body.ts';
import { ConnectionCaps, type Refusal } from './connection-caps.ts';
import { decrementCount } from './counts.ts';
import { HttpFrontend, type ClientRequest, type ClientSocket } from './frontend.ts';
import { clientIpOf, forwardedFromHeader, forwardedPortHeader, forwardHeaders, rawHeaderValue, replayHopsHeader, responseHeaders, type ClientFacts } from './headers.ts';
import { defaultProxyLimits, type ProxyLimits } from './limits.ts';
import { hostOf, portOf, type Peers } from './peers.ts';
import { crossOrgReplayRefusal, parseReplay, replaySource } from './replay.ts';
import { fail, rawFailure, type ClientResponse } from './responses.ts';
import type { Protocol, RouteTable } from './route-table.ts';
import { Router, type Route, type RouteQuery } from './router.ts';
import { Autostarter, Autostopper, type MachineControl } from './scale-to-zero.ts';
import { relayTcp } from './tcp.ts';
import { UdpListener } from './udp.ts';
import { joinUpgrade } from './upgrade.ts';
import { ProxyUpstreamError } from './upstream-errors.ts';
import { UpstreamPools } from './upstream.ts';

/**
 * The TLS termination hook, implemented by src/proxy/tls/ (certificates per hostname, ACME,
 * the internal CA for `*.aloft.localhost`) and passed in by the platform composition.
 *
 * Contract: the proxy serves every public port whose service lists the `tls` handler with
 * node:tls (ALPN `h2` and `http/1.1`; HTTP/2 and HTTP/1.1 both served when the port also lists
 * `http`, the decrypted bytes piped to the machine otherwise). It calls `SNICallback` for every
 * handshake with the client's server name, exactly as node:tls does; answer with the
 * SecureContext to use, or an error to refuse the handshake (the client sees a TLS alert).
 * It may be called concurrently and must not block. On plain HTTP ports the proxy answers
 * `GET /.well-known/acme-challenge/<token>` from `httpChallenge` before any app routing (ACME
 * http-01); `undefined` there means 404. On a dev box the TLS port 443 is listened on at
 * the port `listenPortFor(443)` gives (7743 for `aloft up`).
 */
export interface ProxyTls {
  SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  httpChallenge?: (token: string, host: string) => string | undefined;
  /**
   * The app a hostname outside `<app>.<domain>` belongs to (a custom hostname an app added a
   * certificate for), so `Host: shop.example.com` routes to that app on every port; undefined: none.
   */
  appFor?: (hostname: string) => string | undefined;
}

export interface ProxyOptions {
  routes: RouteTable;
  /** TLS termination; without it ports with the `tls` handler are not served. */
  tls?: ProxyTls;
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  /** This proxy's region: requests are served here when a machine here can take them. */
  region: string;
  /** What the region's proxies share for autostop; without it this proxy decides alone, by its own traffic. */
  activity?: RegionActivity;
  logger: Logger;
  random?: () => number;
  /** Starts and stops machines for autostart and autostop; without it neither happens. */
  control?: MachineControl;
  /** Other regions' proxies; without them every request is served in this region. */
  peers?: Peers;
  limits?: Partial<ProxyLimits>;
  /**
   * The port this host listens on for a public port, or undefined to not serve it. Public port
   * 80 is always served, on the port given to listen(). Default: the public port itself (a
   * fleet host's namespace binds real ports). `aloft up` maps them onto one dev box (see
   * local-platform.ts); tests map everything to 0 (a free port) and ask boundPort().
   */
  listenPortFor?: (publicPort: number) => number | undefined;
}

/** Machines tried for one request before giving up; each refused connection moves to the next. */
export const attemptsPerRequestMax = defaultProxyLimits.attemptsPerRequestMax;

const acmePrefix = '/.well-known/acme-challenge/';
const appOfHostCacheMax = 4_096;
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

interface UpstreamFailure {
  who: string;
  error: NodeJS.ErrnoException;
  connected: boolean;
}

type ListenerKind = 'http' | 'tls' | 'tcp';

interface Listener {
  kind: ListenerKind;
  server: NetServer;
  frontend?: HttpFrontend;
  port: number;
}

export class EdgeProxy {
  readonly #opts: ProxyOptions;
  readonly #limits: ProxyLimits;
  readonly #router: Router;
  readonly #autostopper: Autostopper | undefined;
  readonly #upstreams: UpstreamPools;
  readonly #listeners = new Map<number, Listener>();
  readonly #appInFlight = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  readonly #caps: ConnectionCaps;
  #host = '127.0.0.1';
  #unsubscribe: (() => void) | undefined;
  #reconcileQueued = false;
  /** Reconciles run one after another: each may close and reopen listeners. */
  #reconciling: Promise<void> = Promise.resolve();
  /** The claimants last logged for each contested raw port, so each conflict is logged once. */
  readonly #contested = new Map<string, string>();
  readonly #udpListeners = new Map<number, UdpListener>();
  readonly #udpFlowsPerApp = new Map<string, number>();
  /** The app of each Host header seen under the platform domain (a pure function of the header, worked out once). */
  readonly #appOfHost = new Map<string, string>();
  #closed = false;

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.#limits = { ...defaultProxyLimits, ...opts.limits };
    this.#upstreams = new UpstreamPools(this.#limits.connectTimeoutMs);
    this.#caps = new ConnectionCaps(this.#limits, (address) => opts.peers?.isPeerAddress(address) === true);
    const autostarter = opts.control === undefined ? undefined : new Autostarter(opts.routes, opts.control, this.#limits.autostartTimeoutMs, opts.logger);
    this.#router = new Router({ routes: opts.routes, region: opts.region, limits: this.#limits, random: opts.random ?? Math.random, peers: opts.peers, autostarter });
    this.#autostopper =
      opts.control === undefined
        ? undefined
        : new Autostopper(opts.routes, opts.control, { region: opts.region, activity: opts.activity, idleStopMs: this.#limits.idleStopMs, intervalMs: this.#limits.autostopIntervalMs }, opts.logger);
  }

  /** Listens for public port 80 on `port` and for every other public port the routes declare; returns the port-80 URL. */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.#host = host;
    const http = await this.#open(80, 'http', port);
    this.#unsubscribe = this.#opts.routes.onChange(() => this.#queueReconcile());
    this.#queueReconcile();
    await this.#reconciling;
    this.#autostopper?.start();
    this.#opts.peers?.start();
    return `http://${host.includes(':') ? `[${host}]` : host}:${http.port}`;
  }

  /** The port this host listens on for `publicPort`, once its listener is open. */
  boundPort(publicPort: number): number | undefined {
    return this.#listeners.get(publicPort)?.port;
  }

  /** The port this host receives datagrams on for UDP `publicPort`, once its listener is open. */
  boundUdpPort(publicPort: number): number | undefined {
    return this.#udpListeners.get(publicPort)?.port;
  }

  /** Runs one autostop pass now (tests; the loop runs on its own interval otherwise). */
  autostopNow(): string[] {
    return this.#autostopper?.tick() ?? [];
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#autostopper?.stop();
    this.#opts.peers?.stop();
    // A reconcile in progress opens nothing more once closed; let it finish so no listener outlives close().
    await this.#reconciling;
    await this.#upstreams.close();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(
      [...this.#listeners.values()].map(
        (l) =>
          new Promise<void>((resolve) => {
            l.frontend?.close();
            l.server.close(() => resolve());
          }),
      ),
    );
    this.#listeners.clear();
    for (const udp of this.#udpListeners.values()) udp.close();
    this.#udpListeners.clear();
  }

  #queueReconcile(): void {
    if (this.#reconcileQueued) return;
    this.#reconcileQueued = true;
    this.#reconciling = this.#reconciling
      .then(() => {
        this.#reconcileQueued = false;
        return this.#reconcile();
      })
      .catch((err: unknown) => this.#opts.logger.warn({ err: String(err) }, 'reconciling listeners failed'));
  }

  /**
   * Opens a listener for each newly declared public port, and reopens one whose declarations now
   * call for another kind (a raw port an app now serves with http or tls, or the reverse).
   * Listeners otherwise stay open until close(); a reopened one's connections carry on.
   */
  async #reconcile(): Promise<void> {
    const wanted = this.#opts.routes.publicPorts();
    // 443 is the platform's HTTPS port wherever this proxy terminates TLS, whatever else declares it.
    if (this.#opts.tls !== undefined) {
      const https = wanted.get(443) ?? { handlers: new Set<string>(), apps: new Set<string>() };
      https.handlers.add('tls').add('http');
      wanted.set(443, https);
    }
    for (const [publicPort, { handlers }] of wanted) {
      // Port 80 is opened by listen(), for HTTP whatever is declared.
      if (this.#closed || publicPort === 80) continue;
      const kind: ListenerKind = handlers.has('tls') ? 'tls' : handlers.has('http') ? 'http' : 'tcp';
      const open = this.#listeners.get(publicPort);
      if (open?.kind === kind || (kind === 'tls' && this.#opts.tls === undefined)) continue;
      const port = (this.#opts.listenPortFor ?? ((p: number) => p))(publicPort);
      if (port === undefined) continue;
      if (open !== undefined) {
        this.#opts.logger.info({ publicPort, from: open.kind, to: kind }, 'reopening a listener: its declarations changed its kind');
        await this.#stopListening(publicPort, open);
      }
      await this.#open(publicPort, kind, port).catch((err: unknown) => this.#opts.logger.warn({ publicPort, port, err: String(err) }, 'cannot listen for a public port; its services are not reachable here'));
    }
    for (const publicPort of this.#opts.routes.publicPorts('udp').keys()) {
      if (this.#closed || this.#udpListeners.has(publicPort)) continue;
      const port = (this.#opts.listenPortFor ?? ((p: number) => p))(publicPort);
      if (port === undefined) continue;
      const deps = { routes: this.#opts.routes, region: this.#opts.region, limits: this.#limits, random: this.#opts.random ?? Math.random, logger: this.#opts.logger, ownerOf: (p: number) => this.#rawOwner(p, 'udp'), flowsPerApp: this.#udpFlowsPerApp };
      await UdpListener.open(publicPort, this.#host, port, deps).then(
        (udp) => this.#udpListeners.set(publicPort, udp),
        (err: unknown) => this.#opts.logger.warn({ publicPort, port, err: String(err) }, 'cannot listen for a public UDP port; its services are not reachable here'),
      );
    }
  }

  /** Stops accepting on a listener (its connections carry on, and close() still ends them) and frees its port. */
  async #stopListening(publicPort: number, listener: Listener): Promise<void> {
    this.#listeners.delete(publicPort);
    listener.server.close();
    // The listening socket is released on the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  }

  async #open(publicPort: number, kind: ListenerKind, port: number): Promise<Listener> {
    let server: NetServer;
    let frontend: HttpFrontend | undefined;
    // Plain and raw listeners take their connections here, once admitted; TLS servers after the handshake.
    let accept: ((socket: Socket) => void) | undefined;
    if (kind === 'tls') {
      frontend = this.#frontend(publicPort, true);
      const tlsFrontend = frontend;
      server = createTlsServer({ SNICallback: this.#opts.tls!.SNICallback, ALPNProtocols: ['h2', 'http/1.1'], handshakeTimeout: this.#limits.firstByteTimeoutMs, allowHalfOpen: true, noDelay: true });
      server.on('secureConnection', (socket: TLSSocket) => this.#onTls(socket, publicPort, tlsFrontend));
      server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
    } else if (kind === 'http') {
      const httpFrontend = (frontend = this.#frontend(publicPort, false));
      // noDelay: these sockets are made here, not by node:http, which would have turned Nagle off itself.
      server = createNetServer({ noDelay: true });
      accept = (socket) => httpFrontend.acceptPlain(socket);
    } else {
      server = createNetServer({ allowHalfOpen: true, noDelay: true });
      accept = (socket) => this.#onTcp(socket, publicPort);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#opts.logger.warn({ publicPort, err: String(err) }, 'listener error'));
    // First of the connection listeners, so a refused connection reaches no server.
    server.prependListener('connection', (socket: Socket) => {
      const refusal = this.#caps.admit(socket, publicPort);
      if (refusal !== undefined) {
        refuseConnection(socket, kind, refusal, this.#limits.firstByteTimeoutMs);
        return;
      }
      // Connections handed to the HTTP servers outlive a plain close(); close() destroys them itself.
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      accept?.(socket);
    });
    const listener: Listener = { kind, server, port: (server.address() as AddressInfo).port, ...(frontend === undefined ? {} : { frontend }) };
    this.#listeners.set(publicPort, listener);
    return listener;
  }

  #frontend(publicPort: number, encrypted: boolean): HttpFrontend {
    return new HttpFrontend(
      {
        request: (req, res, client) => void this.#onRequest(req, res, client, publicPort, encrypted),
        upgrade: (req, socket, head) => void this.#onUpgrade(req, socket, head, publicPort, encrypted),
      },
      this.#limits,
    );
  }

  #appOf(hostHeader: string | undefined): string | undefined {
    const raw = hostHeader ?? '';
    const known = this.#appOfHost.get(raw);
    if (known !== undefined) return known;
    const host = raw.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    const suffix = `.${this.#opts.domain}`;
    // Custom hostnames are asked every time: a certificate added for one changes the answer.
    if (!host.endsWith(suffix)) return this.#opts.tls?.appFor?.(host);
    const app = host.slice(0, -suffix.length);
    if (!/^[a-z0-9-]+$/.test(app)) return undefined;
    // Clients choose Host freely: the cache is bounded, and starts over when full.
    if (this.#appOfHost.size >= appOfHostCacheMax) this.#appOfHost.clear();
    this.#appOfHost.set(raw, app);
    return app;
  }

  #onTls(socket: TLSSocket, publicPort: number, frontend: HttpFrontend): void {
    const app = this.#appOf(socket.servername || undefined);
    const speaksHttp = app === undefined || this.#opts.routes.targets(app, publicPort).some((t) => t.portConfig.handlers.includes('http'));
    if (speaksHttp) frontend.acceptTls(socket);
    else void relayTcp(socket, app!, publicPort, this.#tcpDeps());
  }

  #onTcp(socket: Socket, publicPort: number): void {
    const app = this.#rawOwner(publicPort, 'tcp');
    if (app === undefined) {
      socket.destroy();
      return;
    }
    void relayTcp(socket, app, publicPort, this.#tcpDeps());
  }

  /**
   * A raw TCP port (or any UDP port) carries no host name, so it is served to the one app that
   * declares it raw — the API gives such a port to its first claimant only. Several claimants
   * (declared before the API checked) get none of it, logged once per conflict: no tenant's
   * traffic goes to another.
   */
  #rawOwner(publicPort: number, protocol: Protocol): string | undefined {
    const claimants = this.#opts.routes.rawClaimants(publicPort, protocol);
    const key = `${publicPort}/${protocol}`;
    if (claimants.length <= 1) {
      this.#contested.delete(key);
      return claimants[0];
    }
    const names = claimants.join(',');
    if (this.#contested.get(key) !== names) {
      this.#contested.set(key, names);
      this.#opts.logger.warn({ publicPort, protocol, apps: claimants }, 'several apps declare one raw port on the shared address; it is served to none of them until only one does');
    }
    return undefined;
  }

  #tcpDeps(): Parameters<typeof relayTcp>[3] {
    return { routes: this.#opts.routes, router: this.#router, limits: this.#limits, logger: this.#opts.logger };
  }

  /**
   * Facts about the client: from the socket, or (for a request a peer proxy forwarded, coming
   * from a peer's address) from the peer's headers. A forwarding mark from anywhere else is not
   * trusted for these facts, though it still stops the request from being forwarded again.
   */
  #facts(req: ClientRequest, client: ClientSocket, publicPort: number, encrypted: boolean): ClientFacts & { fromPeer: boolean } {
    const fromPeer = req.headers[forwardedFromHeader] !== undefined && this.#opts.peers?.isPeerAddress(client.remoteAddress) === true;
    return {
      clientIp: clientIpOf(client.remoteAddress),
      publicPort: fromPeer ? Number(req.headers[forwardedPortHeader]) || publicPort : publicPort,
      encrypted: fromPeer ? req.headers['x-forwarded-proto'] === 'https' : encrypted,
      region: this.#opts.region,
      httpVersion: req.httpVersion,
      fromPeer,
      keepUpgrade: false,
    };
  }

  async #onRequest(req: ClientRequest, res: ClientResponse, client: ClientSocket, listenerPort: number, encrypted: boolean): Promise<void> {
    const hostHeader = (req.headers[':authority'] as string | undefined) ?? req.headers.host;
    const path = req.url ?? '/';
    const challenge = this.#opts.tls?.httpChallenge;
    if (!encrypted && challenge !== undefined && path.startsWith(acmePrefix)) {
      const answer = challenge(path.slice(acmePrefix.length), hostOf(`${hostHeader ?? ''}:0`));
      if (answer === undefined) fail(res, 404, 'PN', 'no ACME challenge with that token', 'the certificate order may have expired; run aloft certs add again');
      else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(answer);
      }
      return;
    }
    const facts = this.#facts(req, client, listenerPort, encrypted);
    const peerApp = facts.fromPeer ? (req.headers['aloft-app'] as string | undefined) : undefined;
    const app = peerApp ?? this.#appOf(hostHeader);
    if (app === undefined) {
      fail(res, 404, 'PN', `no app is served at host '${hostHeader ?? ''}'`, `use <app>.${this.#opts.domain} as the Host`);
      return;
    }
    if (!facts.encrypted && !facts.fromPeer && this.#opts.routes.targets(app, facts.publicPort).some((t) => t.portConfig.force_https === true)) {
      this.#redirectToHttps(res, hostHeader ?? '', path);
      return;
    }
    // Each app gets at most its share of the proxy, so one app's flood or hung machines cannot starve the others.
    const inFlight = this.#appInFlight.get(app) ?? 0;
    if (inFlight >= this.#limits.appInFlightMax) {
      fail(res, 503, 'PL', `app '${app}' has ${inFlight} requests in flight through this proxy, its limit`, 'retry later; requests that never finish count until they do');
      return;
    }
    this.#appInFlight.set(app, inFlight + 1);
    res.once('close', () => decrementCount(this.#appInFlight, app));
    let body: RequestBody = { kind: 'none' };
    if (!('bodiless' in req) && (req.httpVersion === '2.0' || declaresBody(req.headers))) {
      try {
        body = await readBody(req, res, this.#limits);
      } catch {
        res.destroy();
        return;
      }
    }
    await this.#exchange(req, res, app, facts, body);
  }

  /** Routes, sends, retries where safe and follows replays until the client has its answer. */
  async #exchange(req: ClientRequest, res: ClientResponse, firstApp: string, facts: ClientFacts & { fromPeer: boolean }, body: RequestBody): Promise<void> {
    const method = req.method ?? 'GET';
    // Loop guards hold whoever sent them: a client that sets them only limits its own request.
    const forwarded = req.headers[forwardedFromHeader] !== undefined;
    let hops = Number(req.headers[replayHopsHeader] ?? 0) || 0;
    let replaySrc = facts.fromPeer ? (req.headers['fly-replay-src'] as string | undefined) : undefined;
    let q: RouteQuery = {
      app: firstApp,
      publicPort: facts.publicPort,
      fromPeer: forwarded,
      tried: new Set(),
      instance: req.headers['fly-force-instance-id'] as string | undefined,
      notInstance: facts.fromPeer ? (req.headers['aloft-not-instance'] as string | undefined) : undefined,
    };
    let attempts = 0;
    let lastFailure: UpstreamFailure | undefined;
    for (;;) {
      const route = this.#router.pickNow(q) ?? (await this.#router.route(q));
      if (res.destroyed) {
        if (route.kind === 'machine') this.#opts.routes.release(route.target);
        return;
      }
      if (route.kind === 'refused') {
        // Nothing left to try after failures: the failure is the answer, not the emptiness it left.
        if (lastFailure !== undefined) this.#failUpstream(res, q.app, lastFailure, attempts);
        else fail(res, route.status, route.code, route.message, route.hint, hops > 0 && route.code === 'PA' ? { 'fly-replay-failed': 'no_candidate' } : {});
        return;
      }
      attempts += 1;
      const headers = forwardHeaders(req.headers, facts);
      if (replaySrc !== undefined) headers['fly-replay-src'] = replaySrc;
      if (hops > 0) headers[replayHopsHeader] = String(hops);
      if (route.kind === 'peer') this.#markForPeer(headers, q, facts);
      const { host, port } = route.kind === 'machine' ? { host: route.target.address, port: route.target.port } : { host: hostOf(route.peer.address), port: portOf(route.peer.address) };
      const call = this.#upstreams.send({
        host,
        port,
        method,
        path: req.url ?? '/',
        headers,
        body: body.kind === 'none' ? undefined : body.kind === 'buffered' ? body.bytes : body.stream,
        // From the address peers know this proxy by, so they trust the client facts it forwards.
        localAddress: route.kind === 'peer' && !isWildcard(this.#host) ? this.#host : undefined,
      });
      const abort = call.abort;
      res.once('close', abort);
      const outcome = await call.outcome;
      if (outcome.kind === 'error') {
        res.off('close', abort);
        this.#forget(route);
        this.#markTried(route, q);
        if (res.destroyed) return;
        const { error, connected } = outcome;
        // Safe to send again: the body is still in hand, and the target saw nothing (no connection)
        // or the method is idempotent. (A pooled connection the target had closed is retried by the pool.)
        const safe = body.kind !== 'streamed' && (!connected || idempotentMethods.has(method));
        lastFailure = { who: describeRoute(route), error, connected };
        this.#opts.logger.warn({ app: q.app, to: lastFailure.who, err: error.code ?? error.message }, 'upstream failed');
        if (safe && attempts < this.#limits.attemptsPerRequestMax) continue;
        this.#failUpstream(res, q.app, lastFailure, attempts);
        return;
      }
      const response = outcome.response;
      const replayHeader = rawHeaderValue(response.rawHeaders, 'fly-replay');
      if (route.kind === 'machine' && typeof replayHeader === 'string') {
        res.off('close', abort);
        response.discard();
        this.#opts.routes.release(route.target);
        const instruction = parseReplay(replayHeader);
        const refusal =
          instruction === undefined
            ? `machine ${route.target.machineId} sent a fly-replay header naming no target: '${replayHeader}'`
            : body.kind === 'streamed'
              ? `the request body is larger than ${this.#limits.replayBodyBytesMax} bytes, too large to replay`
              : hops >= this.#limits.replayHopsMax
                ? `replay loop stopped after ${hops} replays`
                : crossOrgReplayRefusal(this.#opts.routes, route.target.machineId, instruction.app);
        if (refusal !== undefined || instruction === undefined) {
          fail(res, 502, 'PA', refusal ?? 'bad replay', 'fix the fly-replay header the app sends', { 'fly-replay-failed': 'retries_exhausted' });
          return;
        }
        hops += 1;
        replaySrc = replaySource(route.target.machineId, route.target.region, instruction.state, (performance.timeOrigin + performance.now()) * 1000);
        const regions = instruction.regions.includes('any') || instruction.regions.length === 0 ? undefined : new Set(instruction.regions);
        q = { app: instruction.app ?? q.app, publicPort: q.publicPort, fromPeer: false, tried: new Set(), instance: instruction.instance, notInstance: instruction.elsewhere ? route.target.machineId : undefined, regions };
        attempts = 0;
        lastFailure = undefined;
        continue;
      }
      res.off('close', abort);
      try {
        res.writeHead(response.statusCode, responseHeaders(response.rawHeaders, servedBy(route)));
      } catch (err) {
        // A head node will not write (a header name that is no token, a control character, a single-value
        // header repeated towards an HTTP/2 client) is the machine's fault: a 502, not a crash of every app's proxy.
        response.discard();
        this.#forget(route);
        this.#unrelayable(res, q.app, route, err as Error);
        return;
      }
      response.pipeTo(res, () => this.#forget(route));
      return;
    }
  }

  #failUpstream(res: ClientResponse, app: string, f: UpstreamFailure, attempts: number): void {
    // The proxy's own failures say what was wrong with the answer; a system error's message would name internal addresses.
    const reason = f.error instanceof ProxyUpstreamError ? `${f.error.code}: ${f.error.message}` : (f.error.code ?? f.error.message);
    fail(res, 502, f.connected ? 'PU' : 'PC', `${f.who} of app '${app}' failed: ${reason}${attempts > 1 ? ` (${attempts} attempts)` : ''}`, f.connected ? `the machine broke the connection; check the app: aloft logs -a ${app}` : `check the app listens on its internal_port: aloft logs -a ${app}`);
  }

  #unrelayable(res: ClientResponse, app: string, route: Exclude<Route, { kind: 'refused' }>, err: Error): void {
    const who = describeRoute(route);
    this.#opts.logger.warn({ app, to: who, err: err.message }, 'upstream answer head cannot be relayed');
    try {
      fail(res, 502, 'PU', `${who} of app '${app}' sent an answer head this proxy cannot relay: ${err.message}`, `fix the headers the app sends: aloft logs -a ${app}`);
    } catch {
      // HTTP/2's compatibility response keeps the refused headers: nothing more can be written.
      res.destroy();
    }
  }

  /** Headers a peer proxy needs to deliver a forwarded request exactly as routed here. */
  #markForPeer(headers: OutgoingHttpHeaders, q: RouteQuery, facts: ClientFacts): void {
    headers[forwardedFromHeader] = this.#opts.region;
    headers[forwardedPortHeader] = String(facts.publicPort);
    headers['aloft-app'] = q.app;
    if (q.instance !== undefined) headers['fly-force-instance-id'] = q.instance;
    if (q.notInstance !== undefined) headers['aloft-not-instance'] = q.notInstance;
  }

  /** Drops the load a route holds. */
  #forget(route: Route): void {
    if (route.kind === 'machine') this.#opts.routes.release(route.target);
  }

  /** A target that failed is not tried again for this request; a failed peer counts as down until it answers a ping. */
  #markTried(route: Exclude<Route, { kind: 'refused' }>, q: RouteQuery): void {
    if (route.kind === 'machine') {
      q.tried.add(route.target.machineId);
      return;
    }
    q.tried.add(`peer:${route.peer.hostId}`);
    this.#opts.peers?.markDown(route.peer.hostId);
  }

  #redirectToHttps(res: ClientResponse, hostHeader: string, path: string): void {
    const tlsPort = this.boundPort(443);
    const host = hostHeader.replace(/:\d+$/, '');
    const location = `https://${host}${tlsPort === undefined || tlsPort === 443 ? '' : `:${tlsPort}`}${path}`;
    res.writeHead(301, { location, 'content-length': 0 });
    res.end();
  }

  /** A WebSocket (or other) upgrade: routed like a request, then the two sockets are joined. */
  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, listenerPort: number, encrypted: boolean): Promise<void> {
    socket.on('error', () => socket.destroy());
    const facts = { ...this.#facts(req, req.socket, listenerPort, encrypted), keepUpgrade: true };
    const app = (facts.fromPeer ? (req.headers['aloft-app'] as string | undefined) : undefined) ?? this.#appOf(req.headers.host);
    if (app === undefined) {
      socket.end(rawFailure(404, 'Not Found', 'PN', `no app is served at host '${req.headers.host ?? ''}'`));
      return;
    }
    const q: RouteQuery = { app, publicPort: facts.publicPort, fromPeer: req.headers[forwardedFromHeader] !== undefined, tried: new Set(), instance: req.headers['fly-force-instance-id'] as string | undefined };
    for (let attempt = 0; attempt < this.#limits.attemptsPerRequestMax; attempt++) {
      const route = await this.#router.route(q);
      if (route.kind === 'refused') {
        socket.end(rawFailure(route.status, 'Unavailable', route.code, route.message));
        return;
      }
      if (socket.destroyed) {
        this.#forget(route);
        return;
      }
      const headers = forwardHeaders(req.headers, facts);
      if (route.kind === 'peer') this.#markForPeer(headers, q, facts);
      const target = route.kind === 'machine' ? { host: route.target.address, port: route.target.port, servedBy: servedBy(route) } : { host: hostOf(route.peer.address), port: portOf(route.peer.address), servedBy: undefined };
      const joined = await joinUpgrade(target, req, headers, socket, head, this.#limits.connectTimeoutMs, () => this.#forget(route));
      if (joined === 'refused') {
        this.#forget(route);
        this.#markTried(route, q);
        continue;
      }
      return;
    }
    socket.end(rawFailure(502, 'Bad Gateway', 'PC', `no machine of app '${app}' accepted the connection`));
  }

}

/** Who a route sends to, as errors name it. */
function describeRoute(route: Exclude<Route, { kind: 'refused' }>): string {
  return route.kind === 'machine' ? `machine ${route.target.machineId}` : `the proxy of region ${route.region}`;
}

function servedBy(route: Exclude<Route, { kind: 'refused' }>): { machineId: string; region: string } | undefined {
  return route.kind === 'machine' ? { machineId: route.target.machineId, region: route.target.region } : undefined;
}

/** A refused client gets a 503 where it speaks plain HTTP (its input drained for `lingerMs` at most, so the answer is not lost to a reset), a close elsewhere. */
function refuseConnection(socket: Socket, kind: ListenerKind, refusal: Refusal, lingerMs: number): void {
  socket.on('error', () => socket.destroy());
  if (kind !== 'http') {
    socket.destroy();
    return;
  }
  const message = refusal === 'listener full' ? 'this proxy holds as many connections as it accepts on this port' : 'too many connections from your address are open at once';
  socket.resume();
  socket.end(rawFailure(503, 'Service Unavailable', 'PL', message));
  // A deadline, not an idle timeout: a client that keeps sending must not keep an uncounted socket.
  const linger = setTimeout(() => socket.destroy(), lingerMs);
  socket.once('close', () => clearTimeout(linger));
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}
