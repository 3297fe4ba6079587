/**
 * Placement is immediate-or-cancel: every candidate host in the region is asked for a
 * reservation at once; the best fit (lowest utilization after placement) is taken and the
 * other offers released. If no host can take the machine the call fails now, with each host's
 * reason — it never waits in a queue, nor on a host that does not answer: hosts that have not
 * answered by the deadline are passed over as unreachable, and what they grant later is released.
 */
import { AloftError, CapacityError, PlatformError, asAloftError } from '../lib/index.ts';
import type { AgentClient } from '../agent/index.ts';
import type { HostRow } from './store.ts';

/**
 * How long placement waits for the hosts' offers. Agents answer a reservation in milliseconds
 * (their addresses are near the API even across regions); a cut-off or hung host must not hold
 * every create in its region for undici's 10-second connect timeout or more.
 */
export const placementDeadlineMs = 1_500;

type Offer = { host: HostRow; reservationId: string; utilization: number } | { host: HostRow; error: AloftError };

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
  const release = (offer: Offer): void => {
    if ('reservationId' in offer) void agentOf(offer.host).release(offer.reservationId).catch(() => undefined);
  };
  const asked = hosts.map((host) => ({
    host,
    offer: agentOf(host)
      .reserve(request.cpus, request.memoryMb)
      .then(
        (r): Offer => ({ host, reservationId: r.id, utilization: r.utilization_after }),
        (err: unknown): Offer => ({ host, error: asAloftError(err) }),
      ),
  }));
  const offers = await withinDeadline(asked, release);
  const granted = offers
    .filter((o): o is Extract<Offer, { reservationId: string }> => 'reservationId' in o)
    .sort((a, b) => a.utilization - b.utilization || a.host.id.localeCompare(b.host.id));
  const best = granted[0];
  for (const other of granted.slice(1)) release(other);
  if (best !== undefined) return { host: best.host, reservationId: best.reservationId };

  const reasons: Record<string, string> = {};
  for (const o of offers) if ('error' in o) reasons[o.host.id] = reasonOf(o.error);
  const summary = Object.entries(reasons)
    .map(([host, reason]) => `${host}: ${reason}`)
    .join('; ');
  if (Object.values(reasons).every((r) => r === 'unreachable')) {
    throw new PlatformError('region_unreachable', `no host in region '${region}' could be reached to place the machine (${summary})`, {
      status: 503,
      details: { region, hosts: reasons },
      hint: 'this is a platform fault, not your request: try another region, or again once the hosts are back',
    });
  }
  throw new CapacityError(`no host in region '${region}' can take a machine with ${request.cpus} CPU and ${request.memoryMb} MB (${summary})`, {
    details: { region, hosts: reasons },
    hint: 'try another region, a smaller guest, or add hosts',
  });
}

/**
 * Each host's offer as it stood at the placement deadline: a host not in by then counts as
 * unreachable, and what it answers later goes to `late` (a grant nobody will claim is released).
 */
async function withinDeadline(asked: ReadonlyArray<{ host: HostRow; offer: Promise<Offer> }>, late: (offer: Offer) => void): Promise<Offer[]> {
  const answered = new Map<HostRow, Offer>();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, placementDeadlineMs);
  });
  await Promise.race([Promise.all(asked.map(({ host, offer }) => offer.then((o) => void answered.set(host, o)))), deadline]);
  clearTimeout(timer);
  return asked.map(({ host, offer }) => {
    const inTime = answered.get(host);
    if (inTime !== undefined) return inTime;
    void offer.then(late);
    const error = new PlatformError('unreachable', `the agent of host ${host.id} did not answer within ${placementDeadlineMs} ms`, { status: 502, details: { host: host.id } });
    return { host, error };
  });
}

function reasonOf(error: AloftError): string {
  if (error.code === 'unreachable') return 'unreachable';
  const reason = error.details.reason;
  return typeof reason === 'string' ? `${reason} (${error.message})` : error.message;
}
