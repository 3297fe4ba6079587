/**
 * Per-machine network namespaces. A machine gets a named namespace (`ip netns add PREFIX-ID`)
 * and a veth pair: `eth0` inside, and on the host a link whose name is derived from the
 * namespace name (15 characters at most, as the kernel requires) and whose alias records the
 * machine id. Everything is derivable from the system, and every step checks before it acts, so
 * calling attach or detach again after a crash between steps finishes the job.
 *
 * Routing: each machine's link is its own point-to-point subnet (IPv4 /30, 6PN /80), so the
 * host reaches a machine directly over its veth, and the machine's default routes point at the
 * host side. Forwarding and NAT to the outside are set up by the host's network layer, not here.
 * Where that layer installed the isolation table (isolation.ts), each link is enrolled in it with
 * its organization on attach and removed on detach; without the table there is nothing to join.
 */
import { createHash } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ValidationError } from '../lib/errors.ts';
import { randomHex } from '../lib/ids.ts';
import { silentLogger } from '../lib/log.ts';
import { ipv4PrefixLength, ipv6LinkPrefixLength, machineAddresses, slotOfIpv4 } from './address-plan.ts';
import { ip, ipBatch, mustIp } from './ip.ts';
import { enrollMachineLink, forgetMachineLink } from './isolation.ts';
import { SlotTable } from './slots.ts';

const netnsDir = '/run/netns';
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
const ifnameLengthMax = 15;
const guestIfname = 'eth0';
const machineIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface MachineNetworksOptions {
  /** The slot table lives at `<dataDir>/net/slots.json`. */
  dataDir: string;
  /** Prefix of namespace names and link aliases, so several agents or test runs on one computer never meet. */
  namePrefix?: string;
  logger?: Logger;
}

export interface AttachOptions {
  /** The organization's number (0–65535), encoded in the 6PN address. */
  org: number;
  /** This host's number (0–65535), encoded in the 6PN address. */
  hostNum: number;
}

export interface MachineNetwork {
  netnsName: string;
  /** Path a runtime joins (`/run/netns/NAME`). */
  netnsPath: string;
  hostVeth: string;
  slot: number;
  ipv4: string;
  hostIpv4: string;
  ipv6: string;
  hostIpv6: string;
}

/** What exists on the system for one machine, found by name and alias; for reconciliation and leak checks. */
export interface ExistingMachineNetwork {
  machineId: string;
  netnsName: string | null;
  hostVeth: string | null;
}

export class MachineNetworks {
  private readonly prefix: string;
  private readonly slots: SlotTable;
  private readonly log: Logger;

  constructor(options: MachineNetworksOptions) {
    this.prefix = options.namePrefix ?? 'aloft';
    if (!/^[a-z][a-z0-9-]{0,15}$/.test(this.prefix)) throw new ValidationError(`namePrefix '${this.prefix}' must be 1–16 lowercase letters, digits or dashes`);
    this.slots = new SlotTable(join(options.dataDir, 'net', 'slots.json'));
    this.log = options.logger ?? silentLogger();
  }

  netnsName(machineId: string): string {
    checkMachineId(machineId);
    return `${this.prefix}-${machineId}`;
  }

  /** Host-side link name: `v` + 14 hex of a hash of the namespace name, unique per computer in practice. */
  hostVethName(machineId: string): string {
    const name = `v${createHash('sha256').update(this.netnsName(machineId)).digest('hex').slice(0, ifnameLengthMax - 1)}`;
    return name;
  }

  /** Creates (or finishes creating) the machine's namespace and link. Idempotent. May run concurrently for different machines. */
  async attachMachine(machineId: string, options: AttachOptions): Promise<MachineNetwork> {
    const netnsName = this.netnsName(machineId);
    const hostVeth = this.hostVethName(machineId);
    const slot = await this.slots.allocate(machineId, () => this.slotsInUse());
    const addrs = machineAddresses(options.org, options.hostNum, slot);
    const started = performance.now();
    await this.ensureNetns(netnsName);
    if (!(await linkExists(hostVeth))) {
      await mustIp(['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', guestIfname, 'netns', netnsName]);
    }
    // Before the link is up, so the machine is never reachable outside its organization.
    await enrollMachineLink(hostVeth, options.org, addrs.hostIpv4);
    await ipBatch([
      `link set ${hostVeth} alias ${this.alias(machineId)}`,
      `addr replace ${addrs.hostIpv4}/${ipv4PrefixLength} dev ${hostVeth}`,
      `addr replace ${addrs.hostIpv6}/${ipv6LinkPrefixLength} dev ${hostVeth} nodad`,
      `link set ${hostVeth} up`,
    ]);
    await ipBatch(
      [
        'link set lo up',
        `addr replace ${addrs.ipv4}/${ipv4PrefixLength} dev ${guestIfname}`,
        `addr replace ${addrs.ipv6}/${ipv6LinkPrefixLength} dev ${guestIfname} nodad`,
        `link set ${guestIfname} up`,
        `route replace default via ${addrs.hostIpv4} dev ${guestIfname}`,
        `route replace ::/0 via ${addrs.hostIpv6} dev ${guestIfname}`,
      ],
      netnsName,
    );
    this.log.debug({ machineId, netnsName, hostVeth, slot, ms: Math.round(performance.now() - started) }, 'machine network attached');
    return { netnsName, netnsPath: join(netnsDir, netnsName), hostVeth, ...addrs };
  }

  /** Removes the machine's namespace and link and frees its slot. Safe if absent or half made. */
  async detachMachine(machineId: string): Promise<void> {
    const netnsName = this.netnsName(machineId);
    const hostVeth = this.hostVethName(machineId);
    if (await exists(join(netnsDir, netnsName))) await mustIp(['netns', 'delete', netnsName]);
    // A process still inside the namespace keeps it (and the pair) alive; deleting our end removes both.
    if (await linkExists(hostVeth)) {
      const result = await ip(['link', 'delete', hostVeth]);
      if (result.exitCode !== 0 && (await linkExists(hostVeth))) await mustIp(['link', 'delete', hostVeth]);
    }
    await forgetMachineLink(hostVeth);
    await this.slots.release(machineId);
  }

  /** The machine's addresses if it has a slot (without touching the system). */
  async addressesOf(machineId: string, options: AttachOptions): Promise<MachineNetwork | null> {
    const slot = await this.slots.get(machineId);
    if (slot === null) return null;
    const netnsName = this.netnsName(machineId);
    return { netnsName, netnsPath: join(netnsDir, netnsName), hostVeth: this.hostVethName(machineId), ...machineAddresses(options.org, options.hostNum, slot) };
  }

  /** Namespaces and host links of ours that exist now, by machine id. */
  async listMachineNetworks(): Promise<ExistingMachineNetwork[]> {
    const found = new Map<string, ExistingMachineNetwork>();
    const entry = (machineId: string): ExistingMachineNetwork => {
      const e = found.get(machineId) ?? { machineId, netnsName: null, hostVeth: null };
      found.set(machineId, e);
      return e;
    };
    const nsPrefix = `${this.prefix}-`;
    for (const name of await readdir(netnsDir).catch(() => [] as string[])) {
      if (name.startsWith(nsPrefix)) entry(name.slice(nsPrefix.length)).netnsName = name;
    }
    const links = JSON.parse((await mustIp(['-json', 'link', 'show', 'type', 'veth'])) || '[]') as { ifname: string; ifalias?: string }[];
    const aliasPrefix = this.alias('');
    for (const link of links) {
      if (link.ifalias?.startsWith(aliasPrefix) === true) entry(link.ifalias.slice(aliasPrefix.length)).hostVeth = link.ifname;
    }
    return [...found.values()].sort((a, b) => a.machineId.localeCompare(b.machineId));
  }

  private alias(machineId: string): string {
    return `aloft:${this.prefix}:${machineId}`;
  }

  /** A namespace file that exists but is not mounted is the remains of a crashed `ip netns add`. */
  private async ensureNetns(name: string): Promise<void> {
    const path = join(netnsDir, name);
    if (await isMounted(path)) return;
    if (await exists(path)) await ip(['netns', 'delete', name]);
    await mustIp(['netns', 'add', name]);
  }

  /** Slots whose IPv4 addresses are on this host's links already, whoever put them there. */
  private async slotsInUse(): Promise<Set<number>> {
    const out = JSON.parse((await mustIp(['-json', '-4', 'addr', 'show'])) || '[]') as { addr_info?: { local?: string }[] }[];
    const slots = new Set<number>();
    for (const link of out) for (const a of link.addr_info ?? []) {
      const slot = a.local === undefined ? null : slotOfIpv4(a.local);
      if (slot !== null) slots.add(slot);
    }
    return slots;
  }
}

let probed: Promise<boolean> | undefined;

/** Whether this process can make machine networks: root, and `ip netns` works. Probed once. */
export function hasRootNetworking(): Promise<boolean> {
  probed ??= (async () => {
    if (process.getuid?.() !== 0) return false;
    const name = `aloft-probe-${randomHex(4)}`;
    try {
      if ((await ip(['netns', 'add', name])).exitCode !== 0) return false;
      return (await ip(['netns', 'delete', name])).exitCode === 0;
    } catch {
      return false;
    }
  })();
  return probed;
}

function checkMachineId(machineId: string): void {
  if (!machineIdPattern.test(machineId)) throw new ValidationError(`machine id '${machineId.slice(0, 80)}' cannot name a network namespace`, { field: 'machineId' });
}

/**
 * Whether a link exists in this process's network namespace. /proc/self/net follows the
 * namespace the process is in, while /sys shows the one it was mounted from, which differs
 * for a process moved with `nsenter --net` (how a fleet runs a host's agent).
 */
async function linkExists(name: string): Promise<boolean> {
  const dev = await readFile('/proc/self/net/dev', 'utf8');
  return dev.split('\n').some((line) => line.slice(0, line.indexOf(':')).trim() === name);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function isMounted(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => line.split(' ')[4] === path);
}
