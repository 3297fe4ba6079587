/**
 * The per-host `.internal` resolver: UDP and TCP on each listen address (the same port for
 * both), answering from the in-memory directory and forwarding other names upstream.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { type Clock, systemClock } from '../lib/clock.ts';
import { PlatformError, ValidationError } from '../lib/errors.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { orgNumberMax } from '../net/index.ts';
import { DnsDirectory, type DirectoryState } from './directory.ts';
import { Forwarder, systemUpstreams, type Upstream } from './forwarder.ts';
import { defaultDnsLimits, tcpMessageBytesMax, type DnsLimits } from './limits.ts';
import { ownRegionFirst, regionDistanceFromTable, type RegionDistance, type RegionDistanceTable } from './nearest.ts';
import { Responder, type Outcome } from './responder.ts';
import { SourceLimits } from './source-limits.ts';

export interface DnsServerOptions {
  /** The host's state node (or anything with its `subscribe`). */
  state: DirectoryState;
  /** Where to answer, UDP and TCP alike; port 0 picks a free port (the same for both). Production: fdaa::3 port 53. */
  listen: readonly Upstream[];
  /** This host's region: "nearest" is measured from here. */
  region: string;
  /** Region distances (a function or a table, e.g. the fleet's latency matrix); default: own region first, others alike. */
  regionDistance?: RegionDistance | RegionDistanceTable;
  /**
   * Organization number given to askers whose source is not a 6PN address (loopback in
   * development). Omitted, such askers are REFUSED: only a 6PN source says which organization
   * is asking, and no other can be assumed without leaking one tenant's names to another.
   */
  defaultOrg?: number;
  /** Where names outside `.internal` go: the host's /etc/resolv.conf (default), a list, or nowhere (REFUSED). */
  upstream?: 'system' | 'none' | readonly Upstream[];
  limits?: Partial<DnsLimits>;
  clock?: Clock;
  logger?: Logger;
}

export interface DnsServer {
  /** The bound addresses, in the order of `listen`, with ports filled in. */
  readonly addresses: readonly Upstream[];
  readonly directory: DnsDirectory;
  /** Upstreams in use for names outside `.internal`; empty when they are refused. */
  readonly upstreams: readonly Upstream[];
  /** Messages handled so far, by what happened to them. */
  stats(): Record<Outcome, number>;
  close(): Promise<void>;
}

const bindAttemptsMax = 8;
/** Replies a TCP client may leave unread before it is disconnected. */
const tcpUnreadBytesMax = 4 * tcpMessageBytesMax;

/** Starts answering once the directory holds the state layer's current machines. */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  validate(options);
  const log = options.logger ?? createLogger('dns');
  const limits = { ...defaultDnsLimits, ...options.limits };
  const directory = new DnsDirectory(options.state, log);
  const upstreams = options.upstream === 'none' ? [] : options.upstream === 'system' || options.upstream === undefined ? systemUpstreams(options.listen) : options.upstream;
  const forwarder = upstreams.length === 0 ? undefined : new Forwarder(upstreams, limits.upstreamTimeoutMs, log);
  const distance = options.regionDistance === undefined ? ownRegionFirst : typeof options.regionDistance === 'function' ? options.regionDistance : regionDistanceFromTable(options.regionDistance);
  const sources = new SourceLimits(limits, options.clock ?? systemClock);
  const responder = new Responder({ directory, region: options.region.toLowerCase(), distance, defaultOrg: options.defaultOrg, forwarder, sources });
  const counts: Record<Outcome, number> = { answered: 0, nxdomain: 0, forwarded: 0, servfail: 0, refused: 0, 'rate-limited': 0, formerr: 0, notimp: 0, dropped: 0 };
  const handle = async (message: Buffer, source: string, overTcp: boolean): Promise<Buffer | null> => {
    const reply = await responder.respond(message, source, overTcp);
    counts[reply.outcome] += 1;
    return reply.bytes;
  };
  const endpoints: Endpoint[] = [];
  try {
    await directory.ready;
    for (const address of options.listen) endpoints.push(await bindEndpoint(address, handle, limits, sources, log));
  } catch (err) {
    await Promise.all(endpoints.map((e) => e.close()));
    directory.close();
    forwarder?.close();
    throw err;
  }
  const addresses = endpoints.map((e) => e.address);
  log.info({ addresses, region: options.region, upstreams, defaultOrg: options.defaultOrg }, 'DNS serving .internal');
  return {
    addresses,
    directory,
    upstreams,
    stats: () => ({ ...counts }),
    close: async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      directory.close();
      forwarder?.close();
    },
  };
}

interface Endpoint {
  address: Upstream;
  close(): Promise<void>;
}

type Handler = (message: Buffer, source: string, overTcp: boolean) => Promise<Buffer | null>;

/** UDP and TCP on one host and port; with port 0, retried until both get the same free port. */
async function bindEndpoint(address: Upstream, handle: Handler, limits: DnsLimits, sources: SourceLimits, log: Logger): Promise<Endpoint> {
  for (let attempt = 1; ; attempt += 1) {
    const udp = await bindUdp(address, handle);
    const port = udp.address().port;
    try {
      const tcp = await listenTcp({ host: address.host, port }, handle, limits, sources);
      return {
        address: { host: address.host, port },
        close: async () => {
          await new Promise<void>((resolve) => udp.close(() => resolve()));
          await tcp.close();
        },
      };
    } catch (err) {
      udp.close();
      if (address.port !== 0 || attempt >= bindAttemptsMax || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw bindError(address, err);
      log.debug({ port }, 'DNS TCP port taken; trying another');
    }
  }
}

function bindUdp(address: Upstream, handle: Handler): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: net.isIPv6(address.host) ? 'udp6' : 'udp4' });
  socket.on('message', (message, rinfo) => {
    void handle(message, rinfo.address, false).then((reply) => {
      if (reply === null) return;
      try {
        socket.send(reply, rinfo.port, rinfo.address, () => undefined);
      } catch {
        // The socket closed while this reply was being made (shutdown): nobody to answer.
      }
    });
  });
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => reject(bindError(address, err)));
    socket.bind(address.port, address.host, () => {
      socket.removeAllListeners('error');
      // Send errors to one client (unreachable, gone) must not take the socket down.
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

async function listenTcp(address: Upstream, handle: Handler, limits: DnsLimits, sources: SourceLimits): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveTcpConnection(socket, handle, limits, sources);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Length-prefixed messages (RFC 1035 4.2.2, RFC 7766), answered as they complete, possibly out of order. */
function serveTcpConnection(socket: net.Socket, handle: Handler, limits: DnsLimits, sources: SourceLimits): void {
  const source = socket.remoteAddress ?? '';
  const release = sources.claimConnection(source);
  if (release === null) {
    socket.destroy();
    return;
  }
  socket.on('close', release);
  socket.on('error', () => undefined);
  socket.setTimeout(limits.tcpIdleTimeoutMs, () => socket.destroy());
  let buffered: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  const complete = (): boolean => buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0);
  // Starts queries while fewer than the bound are unanswered; reading pauses until replies catch up.
  const drain = (): void => {
    while (inFlight < limits.tcpQueriesInFlightMax && complete()) {
      const message = Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      buffered = buffered.subarray(2 + message.length);
      inFlight += 1;
      void handle(message, source, true).then((reply) => {
        inFlight -= 1;
        if (reply !== null && !socket.destroyed) {
          const length = Buffer.alloc(2);
          length.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([length, reply]));
          // A client that asks and never reads would have us hold its replies without bound.
          if (socket.writableLength > tcpUnreadBytesMax) socket.destroy();
        }
        drain();
      });
    }
    if (socket.destroyed) return;
    if (inFlight >= limits.tcpQueriesInFlightMax) socket.pause();
    else socket.resume();
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    drain();
  });
}

function bindError(address: Upstream, err: unknown): PlatformError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'EADDRNOTAVAIL'
      ? `${address.host} is not an address of this host: add it first (for fdaa::3: ip -6 addr add fdaa::3/128 dev lo), or listen elsewhere`
      : code === 'EACCES'
        ? 'ports below 1024 need root (or CAP_NET_BIND_SERVICE)'
        : code === 'EADDRINUSE'
          ? `another process answers on ${address.host} port ${address.port}: stop it or pick another port`
          : undefined;
  return new PlatformError('dns_listen_failed', `DNS could not listen on [${address.host}]:${address.port}: ${(err as Error).message}`, { hint, cause: err, details: { host: address.host, port: address.port, errno: code } });
}

function validate(options: DnsServerOptions): void {
  if (options.listen.length === 0) throw new ValidationError('DNS needs at least one listen address (fdaa::3 port 53 on a host of the fleet)', { field: 'listen' });
  for (const l of options.listen) {
    if (net.isIP(l.host) === 0) throw new ValidationError(`DNS listen host must be an IP address, not "${l.host}"`, { field: 'listen' });
    if (!Number.isInteger(l.port) || l.port < 0 || l.port > 0xffff) throw new ValidationError(`DNS listen port must be 0 to 65535, not ${l.port}`, { field: 'listen' });
  }
  const org = options.defaultOrg;
  if (org !== undefined && (!Number.isInteger(org) || org < 1 || org > orgNumberMax)) {
    throw new ValidationError(`defaultOrg must be an organization number from 1 to ${orgNumberMax}, not ${org}`, { field: 'defaultOrg', hint: 'omit it to refuse askers outside 6PN' });
  }
  if (options.region.trim() === '') throw new ValidationError('DNS needs the region of its host', { field: 'region' });
}
