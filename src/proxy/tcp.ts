/**
 * Plain TCP services (no `http` handler): each client connection is relayed byte for byte to
 * one machine of the app, preceded by a PROXY protocol header when the port lists the
 * `proxy_proto` handler. A raw TCP connection carries no host name, so it is served by machines
 * of this proxy's region (woken if need be), never forwarded to another region's proxy.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../lib/index.ts';
import { connectWithin } from './connect.ts';
import type { ProxyLimits } from './limits.ts';
import { proxyProtocolHeader } from './proxy-proto.ts';
import type { RouteTable, Target } from './route-table.ts';
import type { Router } from './router.ts';

export interface TcpRelayDeps {
  routes: RouteTable;
  router: Router;
  limits: ProxyLimits;
  logger: Logger;
}

/** Relays `client` (a TCP or decrypted TLS socket) to a machine of `app` serving `publicPort`. */
export async function relayTcp(client: Socket, app: string, publicPort: number, deps: TcpRelayDeps): Promise<void> {
  client.pause();
  client.on('error', () => client.destroy());
  const tried = new Set<string>();
  for (let attempt = 0; attempt < deps.limits.attemptsPerRequestMax && !client.destroyed; attempt++) {
    const route = await deps.router.route({ app, publicPort, fromPeer: true, tried });
    if (route.kind !== 'machine') {
      if (route.kind === 'refused') deps.logger.info({ app, port: publicPort, code: route.code }, `tcp connection refused: ${route.message}`);
      client.destroy();
      return;
    }
    const target = route.target;
    tried.add(target.machineId);
    const upstream = await connectWithin(target.address, target.port, deps.limits.connectTimeoutMs, true);
    if (upstream === undefined) {
      deps.routes.release(target);
      continue;
    }
    pipeBothWays(client, upstream, target, deps.routes);
    return;
  }
  client.destroy();
}

function pipeBothWays(client: Socket, upstream: Socket, target: Target, routes: RouteTable): void {
  const wantsProxyProto = target.portConfig.handlers.includes('proxy_proto');
  if (wantsProxyProto) {
    const version = target.portConfig.proxy_proto_options?.version ?? 'v1';
    upstream.write(
      proxyProtocolHeader(version, {
        clientAddress: client.remoteAddress ?? '0.0.0.0',
        clientPort: client.remotePort ?? 0,
        edgeAddress: client.localAddress ?? '0.0.0.0',
        edgePort: client.localPort ?? 0,
      }),
    );
  }
  joinSockets(client, upstream, () => routes.release(target));
  client.resume();
}

/**
 * Pipes two sockets into each other. pipe() half-closes each way; a side that closes without
 * having ended its stream (reset, error, destroyed) takes the other down too. `onClosed` runs
 * once both are closed.
 */
export function joinSockets(a: Duplex, b: Duplex, onClosed: () => void): void {
  let open = 2;
  const closedOne = (other: Duplex): void => {
    if (!other.writableEnded) other.destroy();
    open -= 1;
    if (open === 0) onClosed();
  };
  a.once('close', () => closedOne(b));
  b.once('close', () => closedOne(a));
  a.on('error', () => a.destroy());
  b.on('error', () => b.destroy());
  a.pipe(b);
  b.pipe(a);
}
