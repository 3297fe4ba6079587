/** A TCP connection that either opens within a time limit or is reported as not opening. */
import { connect, type Socket } from 'node:net';

/** The open socket, or undefined when the connect failed or took longer than `timeoutMs`. */
export function connectWithin(host: string, port: number, timeoutMs: number, allowHalfOpen = false): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs, allowHalfOpen });
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', () => resolve(undefined));
  });
}
