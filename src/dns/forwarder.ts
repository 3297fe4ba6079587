/**
 * Forwards questions outside `.internal` to the host's own resolvers, one at a time in order,
 * each with a timeout. The client's query bytes go upstream as they are (its EDNS size, its
 * flags) under a fresh random id; a reply is accepted only from the upstream asked, for the id
 * and question asked, and goes back under the client's id.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../lib/log.ts';
import { tcpMessageBytesMax } from './limits.ts';

export interface Upstream {
  host: string;
  port: number;
}

interface Pending {
  upstream: Upstream;
  question: Buffer;
  resolve: (reply: Buffer | null) => void;
}

/** Nameservers of a resolv.conf text, minus any that are this server itself (which would loop). */
export function upstreamsFromResolvConf(text: string, self: readonly Upstream[]): Upstream[] {
  const selfHosts = new Set(self.filter((s) => s.port === 53).map((s) => s.host));
  return text
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((host): host is string => host !== undefined && net.isIP(host.split('%')[0]!) !== 0)
    .filter((host) => !selfHosts.has(host) && host !== 'fdaa::3')
    .map((host) => ({ host, port: 53 }));
}

/** The host's resolvers from /etc/resolv.conf; none when it cannot be read. */
export function systemUpstreams(self: readonly Upstream[], path = '/etc/resolv.conf'): Upstream[] {
  try {
    return upstreamsFromResolvConf(readFileSync(path, 'utf8'), self);
  } catch {
    return [];
  }
}

export class Forwarder {
  readonly upstreams: readonly Upstream[];
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly pending = new Map<number, Pending>();
  private readonly sockets = new Map<4 | 6, dgram.Socket>();

  constructor(upstreams: readonly Upstream[], timeoutMs: number, log: Logger) {
    this.upstreams = upstreams;
    this.timeoutMs = timeoutMs;
    this.log = log;
  }

  /**
   * The upstream's reply to `query` (a well-formed query of one question whose wire form starts
   * at byte 12), re-asked over TCP when the client asked over TCP and the UDP reply was
   * truncated; null when no upstream answered in time.
   */
  async forward(query: Buffer, overTcp: boolean): Promise<Buffer | null> {
    for (const upstream of this.upstreams) {
      let reply = await this.askUdp(upstream, query);
      if (reply !== null && overTcp && (reply[2]! & 0x02) !== 0) reply = await this.askTcp(upstream, query);
      if (reply !== null) return reply;
    }
    return null;
  }

  close(): void {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    for (const p of this.pending.values()) p.resolve(null);
    this.pending.clear();
  }

  private askUdp(upstream: Upstream, query: Buffer): Promise<Buffer | null> {
    const id = this.freeId();
    if (id === null) return Promise.resolve(null);
    const socket = this.socketFor(net.isIPv6(upstream.host) ? 6 : 4);
    const outgoing = Buffer.from(query);
    outgoing.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(null), this.timeoutMs);
      const finish = (reply: Buffer | null): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(reply === null ? null : withId(reply, query.readUInt16BE(0)));
      };
      this.pending.set(id, { upstream, question: questionBytes(query), resolve: finish });
      socket.send(outgoing, upstream.port, upstream.host, (err) => {
        if (err) finish(null);
      });
    });
  }

  private askTcp(upstream: Upstream, query: Buffer): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: upstream.host, port: upstream.port });
      let received = Buffer.alloc(0);
      const finish = (reply: Buffer | null): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => finish(null), this.timeoutMs);
      socket.on('connect', () => socket.write(Buffer.concat([u16(query.length), query])));
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length > tcpMessageBytesMax + 2) return finish(null);
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        const reply = received.subarray(2, 2 + received.readUInt16BE(0));
        finish(reply.length >= 12 && reply.readUInt16BE(0) === query.readUInt16BE(0) ? Buffer.from(reply) : null);
      });
      socket.on('error', () => finish(null));
      socket.on('close', () => finish(null));
    });
  }

  private socketFor(family: 4 | 6): dgram.Socket {
    let socket = this.sockets.get(family);
    if (socket !== undefined) return socket;
    socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (msg, rinfo) => this.onReply(msg, rinfo));
    socket.on('error', (err) => this.log.warn({ err }, 'DNS upstream socket error'));
    socket.bind(0);
    this.sockets.set(family, socket);
    return socket;
  }

  private onReply(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const pending = this.pending.get(msg.readUInt16BE(0));
    // Off-path answers (wrong sender, wrong question) are dropped, as a resolver must.
    if (pending === undefined || rinfo.port !== pending.upstream.port || !sameHost(rinfo.address, pending.upstream.host)) return;
    if (!questionBytes(msg).equals(pending.question)) return;
    pending.resolve(Buffer.from(msg));
  }

  private freeId(): number | null {
    for (let attempt = 0; attempt < 16; attempt += 1) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
    return null;
  }
}

/** The question section (one question) of a packet, lowercased so 0x20-style case changes still match. */
function questionBytes(packet: Buffer): Buffer {
  let offset = 12;
  while (offset < packet.length && packet[offset] !== 0) offset += 1 + packet[offset]!;
  const end = Math.min(packet.length, offset + 5);
  return Buffer.from(packet.subarray(12, end).toString('latin1').toLowerCase(), 'latin1');
}

function withId(packet: Buffer, id: number): Buffer {
  packet.writeUInt16BE(id, 0);
  return packet;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function sameHost(a: string, b: string): boolean {
  const strip = (h: string): string => h.replace(/^::ffff:/i, '').split('%')[0]!.toLowerCase();
  return strip(a) === strip(b);
}
