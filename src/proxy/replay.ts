/**
 * The `fly-replay` response header: a machine asks the proxy to send the request somewhere
 * else (another region, a given machine, another app of its organization) instead of answering it itself.
 */
import type { RouteTable } from './route-table.ts';

export interface ReplayInstruction {
  /** Regions to replay in, in the order given; `any` matches every region. */
  regions: string[];
  instance: string | undefined;
  app: string | undefined;
  state: string | undefined;
  /** Not the machine that asked. */
  elsewhere: boolean;
}

/** Parses `region=ams,iad;instance=…;app=…;state=…;elsewhere=true`; undefined when it names no target. */
export function parseReplay(header: string): ReplayInstruction | undefined {
  const fields = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  const regions = (fields.get('region') ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
  const instruction: ReplayInstruction = {
    regions,
    instance: fields.get('instance') || undefined,
    app: fields.get('app') || undefined,
    state: fields.get('state') || undefined,
    elsewhere: fields.get('elsewhere') === 'true',
  };
  const names = instruction.regions.length > 0 || instruction.instance !== undefined || instruction.app !== undefined || instruction.elsewhere;
  return names ? instruction : undefined;
}

/** The `fly-replay-src` header the replay target receives: who replayed it, from where, when, and the state it passed. */
export function replaySource(machineId: string, region: string, state: string | undefined, nowUs: number): string {
  const fields = [`instance=${machineId}`, `region=${region}`, `t=${Math.round(nowUs)}`];
  if (state !== undefined) fields.push(`state=${state}`);
  return fields.join(';');
}

/**
 * Why a replay from machine `fromMachineId` to app `targetApp` is refused for leaving the
 * machine's organization, or undefined when it may go ahead. An app's organization is that of
 * its machines; a machine whose organization is unknown replays within its own app only. A
 * target app with no machines is left to routing, which has nothing there to send it to.
 */
export function crossOrgReplayRefusal(routes: RouteTable, fromMachineId: string, targetApp: string | undefined): string | undefined {
  if (targetApp === undefined) return undefined;
  const from = routes.get(fromMachineId);
  if (from?.app === targetApp) return undefined;
  const targetOrgs = new Set(routes.machines(targetApp).map((m) => m.org ?? ''));
  if (targetOrgs.size === 0) return undefined;
  const org = from?.org ?? '';
  if (org !== '' && targetOrgs.size === 1 && targetOrgs.has(org)) return undefined;
  return `machine ${fromMachineId} asked to replay to app '${targetApp}', which is not in the same organization as its app '${from?.app ?? 'unknown'}'`;
}
