/**
 * Placement is immediate-or-cancel: every candidate host in the region is asked for a
 * reservation at once; the best fit (lowest utilization after placement) is taken and the
 * other offers released. If no host can take the machine the call fails now, with each host's
 * reason — it never waits in a queue.
 */
import { AloftError, CapacityError, asAloftError } from '../lib/index.ts';
import type { AgentClient } from '../agent/index.ts';
import type { HostRow } from './store.ts';

export interface Placement {
  host: HostRow;
  reservationId: string;
}

export async function placeMachine(
  region: string,
  hosts: HostRow[],
  agentOf: (host: HostRow) => AgentClient,
  request: { cpus: number; memoryMb: number },
): Promise<Placement> {
  if (hosts.length === 0) {
    throw new CapacityError(`region '${region}' has no hosts`, {
      details: { region, hosts: {} },
      hint: 'pick a region that has hosts (`aloft platform regions`) or leave region out',
    });
  }
  const offers = await Promise.all(
    hosts.map(async (host) => {
      try {
        const r = await agentOf(host).reserve(request.cpus, request.memoryMb);
        return { host, reservationId: r.id, utilization: r.utilization_after };
      } catch (err) {
        return { host, error: asAloftError(err) };
      }
    }),
  );
  const granted = offers
    .filter((o): o is { host: HostRow; reservationId: string; utilization: number } => 'reservationId' in o)
    .sort((a, b) => a.utilization - b.utilization || a.host.id.localeCompare(b.host.id));
  const best = granted[0];
  for (const other of granted.slice(1)) void agentOf(other.host).release(other.reservationId).catch(() => undefined);
  if (best !== undefined) return { host: best.host, reservationId: best.reservationId };

  const reasons: Record<string, string> = {};
  for (const o of offers) if ('error' in o && o.error !== undefined) reasons[o.host.id] = reasonOf(o.error);
  const summary = Object.entries(reasons)
    .map(([host, reason]) => `${host}: ${reason}`)
    .join('; ');
  throw new CapacityError(`no host in region '${region}' can take a machine with ${request.cpus} CPU and ${request.memoryMb} MB (${summary})`, {
    details: { region, hosts: reasons },
    hint: 'try another region, a smaller guest, or add hosts',
  });
}

function reasonOf(error: AloftError): string {
  if (error.code === 'unreachable') return 'unreachable';
  const reason = error.details.reason;
  return typeof reason === 'string' ? `${reason} (${error.message})` : error.message;
}
