/** PROXY protocol headers (v1 text, v2 binary) telling a machine the client's real address. */
import { isIPv4 } from 'node:net';
import proxyProtocol from 'proxy-protocol-js';

export interface SocketEnds {
  clientAddress: string;
  clientPort: number;
  /** The address and port the client connected to. */
  edgeAddress: string;
  edgePort: number;
}

/** The bytes sent to the machine before any of the client's. */
export function proxyProtocolHeader(version: 'v1' | 'v2', ends: SocketEnds): Buffer {
  const client = unmapped(ends.clientAddress);
  const edge = unmapped(ends.edgeAddress);
  const v4 = isIPv4(client) && isIPv4(edge);
  if (version === 'v1') {
    const src = new proxyProtocol.Peer(v4 ? client : toIPv6(client), ends.clientPort);
    const dst = new proxyProtocol.Peer(v4 ? edge : toIPv6(edge), ends.edgePort);
    return Buffer.from(new proxyProtocol.V1ProxyProtocol(v4 ? proxyProtocol.INETProtocol.TCP4 : proxyProtocol.INETProtocol.TCP6, src, dst).build(), 'latin1');
  }
  const address = v4
    ? new proxyProtocol.IPv4ProxyAddress(proxyProtocol.IPv4Address.createFrom(client.split('.').map(Number)), ends.clientPort, proxyProtocol.IPv4Address.createFrom(edge.split('.').map(Number)), ends.edgePort)
    : new proxyProtocol.IPv6ProxyAddress(proxyProtocol.IPv6Address.createFrom(ipv6Bytes(toIPv6(client))), ends.clientPort, proxyProtocol.IPv6Address.createFrom(ipv6Bytes(toIPv6(edge))), ends.edgePort);
  return Buffer.from(new proxyProtocol.V2ProxyProtocol(proxyProtocol.Command.PROXY, proxyProtocol.TransportProtocol.STREAM, address).build());
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function toIPv6(address: string): string {
  return isIPv4(address) ? `::ffff:${address}` : address;
}

/** The 16 bytes of an IPv6 address in text form (`::` and an IPv4 tail such as `::ffff:1.2.3.4` allowed). */
export function ipv6Bytes(address: string): number[] {
  const lastColon = address.lastIndexOf(':');
  const v4 = address.slice(lastColon + 1);
  // An IPv4 tail is two 16-bit groups written as four bytes; rewrite it as hex groups.
  const text = isIPv4(v4) ? `${address.slice(0, lastColon + 1)}${v4.split('.').map((n) => Number(n).toString(16).padStart(2, '0')).reduce((acc, b, i) => acc + (i === 2 ? ':' : '') + b, '')}` : address;
  const [head = '', rest] = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const before = parse(head);
  const after = rest === undefined ? [] : parse(rest);
  const zeros = new Array<number>(8 - before.length - after.length).fill(0);
  return [...before, ...zeros, ...after].flatMap((g) => [g >> 8, g & 0xff]);
}
