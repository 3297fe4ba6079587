/**
 * The WireGuard cross-platform userspace API (UAPI): a text protocol on the unix socket
 * `/var/run/wireguard/<ifname>.sock` that wireguard-go serves (the same one `wg` uses). Talking
 * to it directly costs no process per change. The socket directory is shared by every network
 * namespace on the computer, which is why interface names must be unique per computer.
 */
import { connect } from 'node:net';
import { PlatformError } from '../lib/errors.ts';
import { wireguardKeyFromHex } from './wireguard-keys.ts';

export const uapiSocketDir = '/var/run/wireguard';
const uapiTimeoutMs = 5_000;
/** A `get` of a mesh with a few hundred peers is tens of KiB; more than this is not a UAPI answer. */
const uapiReplyBytesMax = 4 * 1024 * 1024;

export function uapiSocketPath(ifname: string): string {
  return `${uapiSocketDir}/${ifname}.sock`;
}

export interface WireguardPeerStatus {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Seconds since the epoch of the last handshake; 0 when there has been none. */
  lastHandshakeSec: number;
  rxBytes: number;
  txBytes: number;
}

export interface WireguardStatus {
  listenPort: number;
  peers: WireguardPeerStatus[];
}

/** Sends one `set` operation (lines of key=value); fails with the daemon's errno. */
export async function uapiSet(ifname: string, lines: readonly string[]): Promise<void> {
  const reply = await exchange(ifname, `set=1\n${lines.map((l) => `${l}\n`).join('')}\n`);
  checkErrno(ifname, reply, 'set');
}

/** Reads the device's listen port and peers. */
export async function uapiGet(ifname: string): Promise<WireguardStatus> {
  const reply = await exchange(ifname, 'get=1\n\n');
  checkErrno(ifname, reply, 'get');
  const status: WireguardStatus = { listenPort: 0, peers: [] };
  let peer: WireguardPeerStatus | undefined;
  for (const line of reply.split('\n')) {
    const at = line.indexOf('=');
    if (at < 0) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    if (key === 'listen_port') status.listenPort = Number(value);
    else if (key === 'public_key') {
      peer = { publicKey: wireguardKeyFromHex(value), endpoint: null, allowedIps: [], lastHandshakeSec: 0, rxBytes: 0, txBytes: 0 };
      status.peers.push(peer);
    } else if (peer !== undefined) {
      if (key === 'endpoint') peer.endpoint = value;
      else if (key === 'allowed_ip') peer.allowedIps.push(value);
      else if (key === 'last_handshake_time_sec') peer.lastHandshakeSec = Number(value);
      else if (key === 'rx_bytes') peer.rxBytes = Number(value);
      else if (key === 'tx_bytes') peer.txBytes = Number(value);
    }
  }
  return status;
}

function checkErrno(ifname: string, reply: string, op: string): void {
  const match = /(?:^|\n)errno=(-?\d+)\n/.exec(reply);
  if (match === null) throw new PlatformError('wireguard_uapi_failed', `WireGuard ${ifname} gave no errno to a ${op}`, { details: { reply: reply.slice(0, 500) } });
  if (match[1] !== '0') throw new PlatformError('wireguard_uapi_failed', `WireGuard ${ifname} refused a ${op} (errno ${match[1]})`, { details: { errno: Number(match[1]) } });
}

/** Writes a request and reads until the blank line that ends the reply. */
function exchange(ifname: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(uapiSocketPath(ifname));
    let reply = '';
    const fail = (message: string, cause?: unknown): void => {
      socket.destroy();
      reject(new PlatformError('wireguard_uapi_failed', `WireGuard ${ifname}: ${message}`, { hint: 'is its wireguard-go running? (`wg show`)', cause }));
    };
    socket.setTimeout(uapiTimeoutMs, () => fail(`no reply within ${uapiTimeoutMs} ms`));
    socket.setEncoding('utf8');
    socket.on('error', (err) => fail(`cannot talk to ${uapiSocketPath(ifname)}: ${err.message}`, err));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.length > uapiReplyBytesMax) return fail(`reply larger than ${uapiReplyBytesMax} bytes`);
      if (reply.endsWith('\n\n')) {
        socket.end();
        resolve(reply);
      }
    });
    socket.on('end', () => {
      if (!reply.endsWith('\n\n')) fail('the daemon closed the connection mid-reply');
    });
    socket.write(request);
  });
}
