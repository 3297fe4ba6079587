/**
 * Isolation between organizations, with nftables, in a host's network namespace.
 *
 * Rules live once per host, in one table (`inet aloft_6pn`) of the host's own namespace, so
 * deleting the namespace deletes them and nothing else on the computer is touched. Which
 * organization a machine belongs to is kept per machine link: attaching a machine adds its
 * host-side link with its org's /48 (and its own gateway's IPv4) to two sets, detaching removes
 * them. The host's own links (loopback, underlay, WireGuard) are listed when the table is made;
 * every other link is treated as a machine's, so a machine whose link was never enrolled reaches
 * no 6PN address at all (fail closed).
 *
 * A machine may send to: its own org's 6PN addresses on any host, the platform addresses
 * (DNS at fdaa::3), and its own gateway's IPv4. Other 6PN addresses and the rest of the
 * host-local IPv4 pool are refused (TCP with a reset, the rest with ICMP "prohibited"), as is
 * traffic to a machine from another org's 6PN address or another machine's IPv4. Machines of
 * one org therefore talk over 6PN, never over their host-local IPv4 (as on Fly.io). Addresses
 * outside 6PN and the pool (the host's underlay, the internet) are not this table's business.
 */
import { PlatformError, ValidationError } from '../lib/errors.ts';
import { expandIpv6, ipv4PoolCidr, orgPrefix, sixpnRange } from './address-plan.ts';
import { runCommand } from './command.ts';
import { mustRunIn } from './netns.ts';

export const isolationTable = 'aloft_6pn';

export interface IsolationOptions {
  /** The host's own links: every other link is a machine's. */
  infraInterfaces: readonly string[];
  /** 6PN addresses every machine may reach (the DNS server's, fdaa::3). */
  platformAddresses: readonly string[];
}

/** The table's text; `flush` of the chains makes re-installing replace the rules and keep the sets' elements. */
export function isolationRuleset(options: IsolationOptions): string {
  for (const name of options.infraInterfaces) checkIfname(name);
  for (const address of options.platformAddresses) {
    if (expandIpv6(address) === null) throw new ValidationError(`platform address '${address}' is not an IPv6 address`);
  }
  const infra = options.infraInterfaces.map((n) => `"${n}"`).join(', ');
  const platform = options.platformAddresses.length === 0 ? '' : `elements = { ${options.platformAddresses.join(', ')} }`;
  const t = `inet ${isolationTable}`;
  return `add table ${t}
add set ${t} infra { type ifname; }
flush set ${t} infra
add element ${t} infra { ${infra} }
add set ${t} platform6 { type ipv6_addr; }
flush set ${t} platform6
${platform === '' ? '' : `add element ${t} platform6 { ${options.platformAddresses.join(', ')} }`}
add set ${t} own6 { type ifname . ipv6_addr; flags interval; }
add set ${t} own4 { type ifname . ipv4_addr; }
add chain ${t} refuse
add chain ${t} from_machine
add chain ${t} to_machine
add chain ${t} forward { type filter hook forward priority filter; policy accept; }
add chain ${t} input { type filter hook input priority filter; policy accept; }
flush chain ${t} refuse
flush chain ${t} from_machine
flush chain ${t} to_machine
flush chain ${t} forward
flush chain ${t} input
add rule ${t} refuse meta l4proto tcp reject with tcp reset
add rule ${t} refuse reject with icmpx admin-prohibited
add rule ${t} from_machine ip6 saddr ${sixpnRange} iifname . ip6 saddr != @own6 drop
add rule ${t} from_machine ip6 daddr ${sixpnRange} iifname . ip6 daddr @own6 accept
add rule ${t} from_machine ip6 daddr @platform6 accept
add rule ${t} from_machine ip6 daddr ${sixpnRange} goto refuse
add rule ${t} from_machine ip daddr ${ipv4PoolCidr} iifname . ip daddr @own4 accept
add rule ${t} from_machine ip daddr ${ipv4PoolCidr} goto refuse
add rule ${t} to_machine ip6 saddr ${sixpnRange} oifname . ip6 saddr @own6 accept
add rule ${t} to_machine ip6 saddr @platform6 accept
add rule ${t} to_machine ip6 saddr ${sixpnRange} drop
add rule ${t} to_machine ip saddr ${ipv4PoolCidr} drop
add rule ${t} forward iifname != @infra jump from_machine
add rule ${t} forward oifname != @infra jump to_machine
add rule ${t} input iifname != @infra jump from_machine
`;
}

/** Creates or updates the isolation table inside a host's namespace. Idempotent; enrolled machines stay enrolled. */
export async function installIsolation(netns: string, options: IsolationOptions): Promise<void> {
  await mustRunIn(netns, 'nft', ['-f', '-'], isolationRuleset(options));
}

/**
 * Enrolls a machine's host-side link in the current namespace's isolation table, if there is
 * one (a host without it, like a single-host `aloft up`, has no isolation to join). Call it
 * before the link is up.
 */
export async function enrollMachineLink(hostVeth: string, org: number, gatewayIpv4: string): Promise<void> {
  checkIfname(hostVeth);
  const t = `inet ${isolationTable}`;
  const script = `add element ${t} own6 { "${hostVeth}" . ${orgPrefix(org)} }\nadd element ${t} own4 { "${hostVeth}" . ${gatewayIpv4} }\n`;
  await nftUnlessNoTable(['-f', '-'], script);
}

/** Removes a machine link's elements from the isolation table, if the table exists. */
export async function forgetMachineLink(hostVeth: string): Promise<void> {
  checkIfname(hostVeth);
  const elements: string[] = [];
  for (const set of ['own6', 'own4']) {
    const listed = await nftUnlessNoTable(['-j', 'list', 'set', 'inet', isolationTable, set]);
    if (listed === null) return;
    for (const key of setElementsOf(listed)) if (key[0] === hostVeth) elements.push(`delete element inet ${isolationTable} ${set} { "${key[0]}" . ${key[1]} }`);
  }
  if (elements.length > 0) await nftUnlessNoTable(['-f', '-'], `${elements.join('\n')}\n`);
}

/** Concatenated keys of a listed set, as [ifname, address-or-prefix]. */
function setElementsOf(json: string): [string, string][] {
  type Part = string | { prefix: { addr: string; len: number } };
  const parsed = JSON.parse(json) as { nftables: { set?: { elem?: ({ concat: Part[] } | { elem: { val: { concat: Part[] } } })[] } }[] };
  const out: [string, string][] = [];
  for (const item of parsed.nftables) {
    for (const e of item.set?.elem ?? []) {
      const parts = 'concat' in e ? e.concat : e.elem.val.concat;
      const text = parts.map((p) => (typeof p === 'string' ? p : `${p.prefix.addr}/${p.prefix.len}`));
      if (text.length === 2) out.push([text[0]!, text[1]!]);
    }
  }
  return out;
}

/** Runs nft; null when the isolation table does not exist here. */
async function nftUnlessNoTable(args: string[], input?: string): Promise<string | null> {
  const result = await runCommand('nft', args, input);
  if (result.exitCode === 0) return result.stdout;
  if (/No such file or directory/.test(result.stderr)) return null;
  throw new PlatformError('nft_failed', `nft ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 500)}`);
}

function checkIfname(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new ValidationError(`'${name.slice(0, 40)}' is not an interface name`);
}
