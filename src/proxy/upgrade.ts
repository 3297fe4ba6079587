/** WebSocket (and other HTTP/1.1) upgrades: the upgrade request goes to the target, then the two sockets are joined. */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { responseHeaders } from './headers.ts';
import { joinSockets } from './tcp.ts';

export interface UpgradeTarget {
  host: string;
  port: number;
  /** The machine named in the answer; undefined for a peer proxy, which names it itself. */
  servedBy: { machineId: string; region: string } | undefined;
}

/**
 * Sends the upgrade request; 'refused' when it could not connect (nothing was sent, the caller
 * may try elsewhere). After 'joined', `onClosed` runs once, when the exchange is over: the
 * joined sockets both closed, a declined upgrade's answer relayed, or the target failed.
 */
export function joinUpgrade(target: UpgradeTarget, req: IncomingMessage, headers: OutgoingHttpHeaders, client: Duplex, head: Buffer, connectTimeoutMs: number, onClosed: () => void): Promise<'joined' | 'refused'> {
  let closed = false;
  const closeOnce = (): void => {
    if (closed) return;
    closed = true;
    onClosed();
  };
  return new Promise((resolve) => {
    const upstream = httpRequest({ host: target.host, port: target.port, method: req.method, path: req.url, headers, agent: false, timeout: connectTimeoutMs });
    let connected = false;
    upstream.on('socket', (s) => s.once('connect', () => (connected = true)));
    upstream.on('timeout', () => {
      if (!connected) upstream.destroy(new Error('connect timeout'));
    });
    upstream.on('error', () => {
      if (!connected) {
        resolve('refused');
        return;
      }
      client.destroy();
      closeOnce();
      resolve('joined');
    });
    upstream.on('response', (response: IncomingMessage) => {
      // The target declined the upgrade: relay its plain answer and close.
      client.write(statusHead(response, [...responseHeaders(response.rawHeaders, target.servedBy), 'connection', 'close']));
      response.pipe(client);
      response.on('close', closeOnce);
      resolve('joined');
    });
    upstream.on('upgrade', (response: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      upstream.setTimeout(0);
      upSocket.setTimeout(0);
      client.write(statusHead(response, [...responseHeaders(response.rawHeaders, target.servedBy), 'connection', 'upgrade', 'upgrade', response.headers.upgrade ?? 'websocket']));
      if (upHead.length > 0) client.write(upHead);
      if (head.length > 0) upSocket.write(head);
      joinSockets(client, upSocket, closeOnce);
      resolve('joined');
    });
    upstream.end();
  });
}

function statusHead(response: IncomingMessage, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  return `${head}\r\n`;
}
