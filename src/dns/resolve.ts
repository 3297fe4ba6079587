/**
 * Answers for `.internal` names within one organization, from the directory alone. A name
 * exists when some machine (in any state) makes it exist; only started machines are answered,
 * so a name whose machines are all stopped is NODATA, not NXDOMAIN.
 */
import type { DirectoryMachine, DnsDirectory } from './directory.ts';
import type { InternalName } from './names.ts';
import { byNearest, compare, type RegionDistance } from './nearest.ts';

/** The records a name has; null from `resolveInternal` means the name does not exist. */
export interface NameRecords {
  aaaa: string[];
  /** One TXT record's text, or null for none. */
  txt: string | null;
  /** The zone apex carries the SOA. */
  soa: boolean;
}

/** More addresses than fit a TCP answer are never useful; a bound on work per question. */
export const addressesMax = 1000;
/** Bound on one TXT answer's text, kept well inside a 64 KiB TCP message. */
export const txtBytesMax = 32 * 1024;

export interface ResolveContext {
  directory: DnsDirectory;
  org: number;
  /** This server's region: where "nearest" is measured from. */
  region: string;
  distance: RegionDistance;
}

const empty: NameRecords = { aaaa: [], txt: null, soa: false };

export function resolveInternal(name: InternalName, ctx: ResolveContext): NameRecords | null {
  const { directory, org } = ctx;
  switch (name.kind) {
    case 'none':
      return null;
    case 'apex':
      return { ...empty, soa: true };
    case 'apps':
      // Every app that has a name here, like Fly's list of the organization's apps.
      return { ...empty, txt: joinCapped(directory.apps(org), ',') };
    case 'instances': {
      const started = directory.orgMachines(org).filter((m) => m.started).sort((a, b) => compare(a.app, b.app) || compare(a.id, b.id));
      return { ...empty, txt: joinCapped(started.map((m) => `instance=${m.id} app=${m.app} ip=${m.ip} region=${m.region}`), ';') };
    }
    default:
      return resolveInApp(name, ctx, directory.machines(org, name.app));
  }
}

function resolveInApp(name: Exclude<InternalName, { kind: 'none' | 'apex' | 'apps' | 'instances' }>, ctx: ResolveContext, machines: DirectoryMachine[] | undefined): NameRecords | null {
  if (machines === undefined) return null;
  const started = machines.filter((m) => m.started);
  switch (name.kind) {
    case 'app':
      return addresses(byNearest(started, ctx.region, ctx.distance));
    case 'app-interior':
      return empty;
    case 'region':
      if (!machines.some((m) => m.region === name.region)) return null;
      return addresses(sortById(started.filter((m) => m.region === name.region)));
    case 'nearest':
      return addresses(byNearest(started, ctx.region, ctx.distance).slice(0, name.count));
    case 'machine': {
      const machine = machines.find((m) => m.id === name.machineId);
      if (machine === undefined) return null;
      return addresses(machine.started ? [machine] : []);
    }
    case 'process-group':
      if (!machines.some((m) => m.processGroup === name.group)) return null;
      return addresses(sortById(started.filter((m) => m.processGroup === name.group)));
    case 'regions-txt':
      return { ...empty, txt: joinCapped([...new Set(started.map((m) => m.region))].sort(), ',') };
    case 'vms-txt':
      return { ...empty, txt: joinCapped(sortById(started).map((m) => `${m.id} ${m.region}`), ',') };
  }
}

function addresses(machines: DirectoryMachine[]): NameRecords {
  return { ...empty, aaaa: machines.slice(0, addressesMax).map((m) => m.ip) };
}

function sortById(machines: DirectoryMachine[]): DirectoryMachine[] {
  return machines.sort((a, b) => compare(a.id, b.id));
}

/** Items joined by `separator`, as many whole items as fit `txtBytesMax`; null when there are none. */
function joinCapped(items: string[], separator: string): string | null {
  let text = '';
  for (const item of items) {
    const next = text === '' ? item : `${text}${separator}${item}`;
    if (Buffer.byteLength(next) > txtBytesMax) break;
    text = next;
  }
  return text === '' ? null : text;
}
