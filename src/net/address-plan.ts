/**
 * The address plan, as pure functions.
 *
 * 6PN (private IPv6): `fdaa:0:ORG:HOST:SLOT::/80` is one machine's point-to-point link. ORG is
 * the organization's number (16 bits), HOST the host's number (16 bits), SLOT the machine's
 * slot on that host (14 bits, see below). The machine is `…:SLOT::2`, the host side of its veth
 * `…:SLOT::1`. So `fdaa:0:ORG::/48` is one organization everywhere (what isolation rules
 * match on) and `fdaa:0:ORG:HOST::/64` is that organization on one host (what the mesh routes).
 *
 * Host-local IPv4: slot N owns the /30 `172.19.0.0 + 4N` (host side .1, machine .2), because
 * most apps listen on 0.0.0.0 and the host's proxy reaches them over IPv4. The same slot numbers
 * both, so one allocation per machine per host is all there is.
 */
import { ValidationError } from '../lib/errors.ts';

export const orgNumberMax = 0xffff;
export const hostNumberMax = 0xffff;
/** 172.19.0.0/16 holds 16384 /30s; the slot space is the same size so both plans agree. */
export const slotCountMax = 16384;
export const ipv4PoolBase = '172.19.0.0';
/** The whole host-local IPv4 pool (slotCountMax /30s). */
export const ipv4PoolCidr = '172.19.0.0/16';
export const ipv4PrefixLength = 30;
export const ipv6LinkPrefixLength = 80;

export interface MachineAddresses {
  slot: number;
  /** The machine's IPv4 (x.x.x.2) and the host side of its link (x.x.x.1), without prefix length. */
  ipv4: string;
  hostIpv4: string;
  /** The machine's 6PN address and the host side of its link, without prefix length. */
  ipv6: string;
  hostIpv6: string;
}

/**
 * Org number 0 is the platform's own (real organizations are numbered from 1): each host's own
 * 6PN address is `fdaa:0:0:HOST::1`, so host-to-host traffic rides the mesh like machines' does,
 * and `fdaa::3` is where a host's `.internal` DNS answers its machines, as on Fly.io.
 */
export const platformOrg = 0;
export const defaultDnsAddress = 'fdaa::3';
/** Every 6PN address; what hosts route into the mesh and what isolation rules guard. */
export const sixpnRange = 'fdaa::/16';

/** A host's own 6PN address, on its WireGuard interface. */
export function hostSixpnAddress(hostNum: number): string {
  return sixpnAddress(platformOrg, hostNum, 0, 1);
}

/** All of a machine's addresses on a host, from its org, the host's number and its slot. */
export function machineAddresses(org: number, hostNum: number, slot: number): MachineAddresses {
  return {
    slot,
    ipv4: slotIpv4(slot, 2),
    hostIpv4: slotIpv4(slot, 1),
    ipv6: sixpnAddress(org, hostNum, slot, 2),
    hostIpv6: sixpnAddress(org, hostNum, slot, 1),
  };
}

/** `fdaa:0:ORG:HOST:SLOT::END`; END is 1 for the host side and 2 for the machine. */
export function sixpnAddress(org: number, hostNum: number, slot: number, end: 1 | 2): string {
  checkRange('org', org, orgNumberMax);
  checkRange('hostNum', hostNum, hostNumberMax);
  checkRange('slot', slot, slotCountMax - 1);
  return formatIpv6([0xfdaa, 0, org, hostNum, slot, 0, 0, end]);
}

/** The /48 holding all of an organization's machines, on every host. */
export function orgPrefix(org: number): string {
  checkRange('org', org, orgNumberMax);
  return `fdaa:0:${hex(org)}::/48`;
}

/** The /64 holding an organization's machines on one host. */
export function orgHostPrefix(org: number, hostNum: number): string {
  checkRange('org', org, orgNumberMax);
  checkRange('hostNum', hostNum, hostNumberMax);
  return `fdaa:0:${hex(org)}:${hex(hostNum)}::/64`;
}

/** Reads org, host and slot back from a 6PN address; null when it is not one. */
export function parseSixpn(address: string): { org: number; hostNum: number; slot: number; end: number } | null {
  const groups = expandIpv6(address);
  if (groups === null || groups[0] !== 0xfdaa || groups[1] !== 0) return null;
  if (groups[5] !== 0 || groups[6] !== 0 || groups[4]! >= slotCountMax) return null;
  return { org: groups[2]!, hostNum: groups[3]!, slot: groups[4]!, end: groups[7]! };
}

/** The slot a host-local IPv4 address belongs to; null outside the pool. */
export function slotOfIpv4(address: string): number | null {
  const n = ipv4ToNumber(address);
  const base = ipv4ToNumber(ipv4PoolBase)!;
  if (n === null || n < base || n >= base + slotCountMax * 4) return null;
  return Math.floor((n - base) / 4);
}

function slotIpv4(slot: number, end: 1 | 2): string {
  checkRange('slot', slot, slotCountMax - 1);
  return numberToIpv4(ipv4ToNumber(ipv4PoolBase)! + slot * 4 + end);
}

export function ipv4ToNumber(address: string): number | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Eight 16-bit groups of an IPv6 address, or null if it is not one (no embedded IPv4 form). */
export function expandIpv6(address: string): number[] | null {
  const halves = address.toLowerCase().split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

/** RFC 5952 text form (the longest run of two or more zero groups becomes `::`), as `ip` prints it. */
export function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = groups.map(hex);
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}

function hex(n: number): string {
  return n.toString(16);
}

function checkRange(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ValidationError(`${name} must be an integer from 0 to ${max}, not ${value}`, { field: name });
  }
}
