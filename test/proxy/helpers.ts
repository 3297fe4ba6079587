/** Real loopback backends and a proxy around them, for the edge proxy's tests. */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { silentLogger, type ServiceConfig } from '../../src/lib/index.ts';
import { EdgeProxy, RouteTable, type MachineRoute, type ProxyOptions } from '../../src/proxy/index.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Backends started by a test; `closeAll` in its after hook. */
export class Backends {
  readonly #servers: Server[] = [];

  /** An HTTP server on a free loopback port answering `name <method> <url>` (or with `handler`). */
  async start(name: string, handler?: Handler): Promise<{ port: number; server: Server; hits: () => number }> {
    let hits = 0;
    const server = createServer((req, res) => {
      hits += 1;
      if (handler !== undefined) return handler(req, res);
      res.setHeader('x-backend', name);
      res.end(`${name} ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.#servers.push(server);
    return { port: (server.address() as AddressInfo).port, server, hits: () => hits };
  }

  /** A loopback port nothing listens on. */
  deadPort(): Promise<number> {
    return unusedPort();
  }

  async closeAll(): Promise<void> {
    for (const s of this.#servers.splice(0)) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

/** A loopback port free a moment ago (a machine that is not listening yet will take it). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export const http80 = (internal_port: number, extra: Partial<ServiceConfig> = {}): ServiceConfig[] => [
  { protocol: 'tcp', internal_port, ports: [{ port: 80, handlers: ['http'] }], ...extra },
];

export function machine(id: string, app: string, services: ServiceConfig[], more: Partial<MachineRoute> = {}): MachineRoute {
  return { id, app, org: 'personal', state: 'started', region: 'dev', hostId: 'h', address: '127.0.0.1', services, ...more };
}

export async function startProxy(opts: Partial<ProxyOptions> = {}): Promise<{ proxy: EdgeProxy; routes: RouteTable; port: number }> {
  const routes = opts.routes ?? new RouteTable();
  const proxy = new EdgeProxy({ routes, domain: 'aloft.localhost', region: 'dev', logger: silentLogger(), listenPortFor: () => 0, ...opts });
  const url = await proxy.listen(0, '127.0.0.1');
  return { proxy, routes, port: Number(new URL(url).port) };
}

export interface Reply {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** One HTTP/1.1 request on a fresh connection (no pooling between tests). */
export function get(port: number, host: string, path = '/', options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host, ...options.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes to the proxy and collects everything it says until it closes the connection; `keepOpen` leaves the client's side open. */
export function rawExchange(port: number, bytes: string, options: { keepOpen?: boolean } = {}): Promise<{ text: string; socket: Socket; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => resolve({ text, socket, ms: performance.now() - started }));
    socket.on('error', () => undefined);
    socket.write(bytes);
    if (options.keepOpen !== true) socket.end();
  });
}
