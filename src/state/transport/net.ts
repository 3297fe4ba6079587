import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from '../../lib/log.ts';
import type { StateLimits } from '../limits.ts';

/** Idle outgoing TCP connections are closed after this long. */
const tcpIdleMs = 30_000;
const frameHeaderBytes = 4;

/**
 * The real packet transport: UDP for packets up to `udpPayloadBytesMax` (probes, small gossip),
 * TCP with 4-byte length framing for larger ones (sync responses, big gossip batches). Both
 * listen on the same host and port number. Delivery is best effort, like the simulator's.
 */
export class NetTransport {
  private readonly udp: UdpSocket;
  private readonly tcp: Server;
  private readonly outgoing = new Map<string, Socket>();
  private readonly incoming = new Set<Socket>();
  private readonly limits: StateLimits;
  private readonly log: Logger;
  private receive: (bytes: Uint8Array) => void = () => {};
  address = '';

  private constructor(host: string, limits: StateLimits, log: Logger) {
    this.limits = limits;
    this.log = log;
    // IPv6 for nodes gossiping over 6PN (fleet hosts as root); addresses stay `host:port`, split at the last colon.
    this.udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    this.tcp = createServer((socket) => this.readFrames(socket));
  }

  /** Binds UDP and TCP on `host:port` (port 0 picks one free for both). */
  static async listen(host: string, port: number, limits: StateLimits, log: Logger): Promise<NetTransport> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const t = new NetTransport(host, limits, log);
      try {
        await new Promise<void>((resolve, reject) => {
          t.udp.once('error', reject);
          t.udp.bind(port, host, () => resolve());
        });
        const bound = t.udp.address().port;
        await new Promise<void>((resolve, reject) => {
          t.tcp.once('error', reject);
          t.tcp.listen(bound, host, () => resolve());
        });
        t.address = `${host}:${bound}`;
        t.udp.on('error', (err) => log.warn({ err }, 'udp socket error'));
        t.udp.on('message', (msg) => t.receive(msg));
        return t;
      } catch (err) {
        await t.close();
        if (port !== 0) throw err; // a chosen port is the caller's to fix; a random one we retry
      }
    }
    throw new Error(`could not bind UDP and TCP to the same free port on ${host}`);
  }

  onPacket(receive: (bytes: Uint8Array) => void): void {
    this.receive = receive;
  }

  send(addr: string, bytes: Uint8Array): void {
    const [host, portText] = splitAddress(addr);
    if (bytes.length <= this.limits.udpPayloadBytesMax) {
      this.udp.send(bytes, Number(portText), host, (err) => {
        if (err !== null) this.log.debug({ err, addr }, 'udp send failed');
      });
      return;
    }
    const header = Buffer.allocUnsafe(frameHeaderBytes);
    header.writeUInt32BE(bytes.length, 0);
    const socket = this.connection(addr, host, Number(portText));
    socket.write(header);
    socket.write(bytes);
  }

  async close(): Promise<void> {
    for (const s of this.outgoing.values()) s.destroy();
    this.outgoing.clear();
    await new Promise<void>((resolve) => {
      try {
        this.udp.close(() => resolve());
      } catch {
        resolve();
      }
    });
    for (const s of this.incoming) s.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  private connection(addr: string, host: string, port: number): Socket {
    let socket = this.outgoing.get(addr);
    if (socket !== undefined && !socket.destroyed) return socket;
    socket = connect({ host, port, noDelay: true });
    socket.setTimeout(tcpIdleMs, () => socket!.destroy());
    socket.on('error', (err) => this.log.debug({ err, addr }, 'tcp connection failed'));
    socket.on('close', () => {
      if (this.outgoing.get(addr) === socket) this.outgoing.delete(addr);
    });
    socket.on('data', () => {}); // peers never answer on this connection; drain anything anyway
    this.outgoing.set(addr, socket);
    return socket;
  }

  /** Reads length-prefixed frames; a frame over the size limit closes the connection. */
  private readFrames(socket: Socket): void {
    let buffered: Buffer = Buffer.alloc(0);
    this.incoming.add(socket);
    socket.on('close', () => this.incoming.delete(socket));
    socket.setTimeout(tcpIdleMs * 2, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= frameHeaderBytes) {
        const length = buffered.readUInt32BE(0);
        if (length > this.limits.messageBytesMax) {
          this.log.warn({ remote: socket.remoteAddress, length }, 'oversized frame; closing connection');
          socket.destroy();
          return;
        }
        if (buffered.length < frameHeaderBytes + length) break;
        const frame = buffered.subarray(frameHeaderBytes, frameHeaderBytes + length);
        buffered = buffered.subarray(frameHeaderBytes + length);
        this.receive(frame);
      }
    });
  }
}

function splitAddress(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), addr.slice(i + 1)];
}
