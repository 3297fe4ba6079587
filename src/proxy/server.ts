/**
 * The HTTP edge: routes by `Host: <app>.<domain>` to a started machine of that app, spreading
 * load by requests in flight, retrying another machine when one refuses the connection, and
 * answering with a clear error body (and a short code saying where it failed) otherwise.
 */
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecureContext } from 'node:tls';
import { pipeline } from 'node:stream';
import type { Logger } from '../lib/index.ts';
import type { Endpoint, RouteTable } from './route-table.ts';

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
}

export interface ProxyOptions {
  routes: RouteTable;
  /** TLS termination; without it ports with the `tls` handler are not served. */
  tls?: ProxyTls;
  /** Apps are served at `<app>.<domain>`. */
  domain: string;
  region: string;
  logger: Logger;
  random?: () => number;
}

/** Machines tried for one request before giving up; each refused connection moves to the next. */
export const attemptsPerRequestMax = 3;
/** Time allowed to connect to a machine before it counts as refusing. */
export const connectTimeoutMs = 2_000;

export class EdgeProxy {
  readonly #opts: ProxyOptions;
  readonly #server: Server;
  readonly #agent = new HttpAgent({ keepAlive: true, maxFreeSockets: 256 });

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 65_000;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    const address = this.#server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #appOf(req: IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    const suffix = `.${this.#opts.domain}`;
    if (!host.endsWith(suffix)) return undefined;
    const app = host.slice(0, -suffix.length);
    return /^[a-z0-9-]+$/.test(app) ? app : undefined;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const app = this.#appOf(req);
    if (app === undefined) {
      fail(res, 404, 'PN', `no app is served at host '${req.headers.host ?? ''}'`, `use <app>.${this.#opts.domain} as the Host`);
      return;
    }
    if (this.#opts.routes.endpoints(app).length === 0) {
      fail(res, 503, 'PM', `app '${app}' has no started machine with an HTTP service`, `start one: aloft machine start -a ${app}, or check aloft machine list -a ${app}`);
      return;
    }
    this.#attempt(app, req, res, new Set());
  }

  #attempt(app: string, req: IncomingMessage, res: ServerResponse, tried: Set<string>): void {
    const endpoint = this.#opts.routes.pick(app, tried, this.#opts.random ?? Math.random);
    if (endpoint === undefined) {
      fail(res, 502, 'PC', `no machine of app '${app}' accepted the connection (tried ${tried.size})`, 'check the app listens on its internal_port: aloft logs');
      return;
    }
    tried.add(endpoint.machineId);
    endpoint.inFlight += 1;
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      endpoint.inFlight -= 1;
    };
    const upstream = httpRequest({
      host: endpoint.address,
      port: endpoint.port,
      method: req.method,
      path: req.url,
      headers: this.#forwardHeaders(req),
      agent: this.#agent,
      timeout: connectTimeoutMs,
    });
    let connected = false;
    upstream.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    upstream.on('timeout', () => {
      if (!connected) upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    });
    upstream.on('response', (up) => {
      upstream.setTimeout(0);
      res.writeHead(up.statusCode ?? 502, withServedBy(up.headers, endpoint));
      // pipeline, not pipe: a machine that dies mid-body must end the client's response too.
      pipeline(up, res, () => done());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      done();
      const retryable = !connected && !res.headersSent && tried.size < attemptsPerRequestMax && req.readableLength === 0 && !hasBody(req);
      if (retryable) {
        this.#attempt(app, req, res, tried);
        return;
      }
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      this.#opts.logger.warn({ app, machine: endpoint.machineId, err: err.code ?? err.message }, 'upstream failed');
      fail(res, 502, connected ? 'PU' : 'PC', `machine ${endpoint.machineId} of app '${app}' failed: ${err.code ?? err.message}`, 'check the app: aloft logs -a ' + app);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      done();
    });
    // A bodiless request is ended directly: on a retry the client's stream has already ended,
    // and piping an ended stream would never end the new upstream request.
    if (hasBody(req)) req.pipe(upstream);
    else upstream.end();
  }

  #forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hopByHop.has(k)) headers[k] = v;
    const clientIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? clientIp : `${String(prior)}, ${clientIp}`;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
    headers['x-forwarded-host'] = req.headers.host ?? '';
    headers['fly-client-ip'] = clientIp;
    headers['fly-region'] = this.#opts.region;
    headers.via = `1.1 aloft`;
    return headers;
  }
}

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined;
}

function withServedBy(headers: IncomingMessage['headers'], endpoint: Endpoint): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive') out[k] = v;
  out['aloft-machine'] = endpoint.machineId;
  out['aloft-region'] = endpoint.region;
  return out;
}

function fail(res: ServerResponse, status: number, code: string, message: string, hint: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // No such app or no started machine is the caller's to fix; a machine that fails to answer is the app's.
  const fault = code === 'PN' || code === 'PM' ? 'user' : 'app';
  const body = JSON.stringify({ error: message, code, fault, hint });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'aloft-proxy-error': code });
  res.end(body);
}
