/**
 * Bounds on client connections: each listener holds at most so many, and each client address at
 * most so many across the proxy, so one client (or one flood) cannot take every socket the
 * proxy can hold while others still get in. Peer proxies, which carry many clients' requests
 * from one address, are not bounded per address.
 */
import type { Socket } from 'node:net';
import { decrementCount } from './counts.ts';
import { clientIpOf } from './headers.ts';
import type { ProxyLimits } from './limits.ts';

export type Refusal = 'listener full' | 'client over its share';

export class ConnectionCaps {
  readonly #limits: Pick<ProxyLimits, 'listenerConnectionsMax' | 'clientConnectionsPerIpMax'>;
  readonly #unbounded: (remoteAddress: string | undefined) => boolean;
  readonly #perListener = new Map<number, number>();
  readonly #perClient = new Map<string, number>();

  constructor(limits: Pick<ProxyLimits, 'listenerConnectionsMax' | 'clientConnectionsPerIpMax'>, unbounded: (remoteAddress: string | undefined) => boolean) {
    this.#limits = limits;
    this.#unbounded = unbounded;
  }

  /** Counts the connection in (until it closes) and returns undefined, or says why it is refused (it is not counted then). */
  admit(socket: Socket, publicPort: number): Refusal | undefined {
    const onListener = this.#perListener.get(publicPort) ?? 0;
    if (onListener >= this.#limits.listenerConnectionsMax) return 'listener full';
    const client = this.#unbounded(socket.remoteAddress) ? undefined : clientIpOf(socket.remoteAddress);
    const fromClient = client === undefined ? 0 : (this.#perClient.get(client) ?? 0);
    if (client !== undefined && fromClient >= this.#limits.clientConnectionsPerIpMax) return 'client over its share';
    this.#perListener.set(publicPort, onListener + 1);
    if (client !== undefined) this.#perClient.set(client, fromClient + 1);
    socket.once('close', () => {
      decrementCount(this.#perListener, publicPort);
      if (client !== undefined) decrementCount(this.#perClient, client);
    });
    return undefined;
  }
}
