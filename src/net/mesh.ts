/**
 * The WireGuard mesh between hosts, kept in sync with the state layer.
 *
 * Each host publishes its public key, WireGuard endpoint and own 6PN address in its `hosts` row;
 * `meshFromState` subscribes to `hosts` and to the machines' 6PN addresses and keeps the local
 * WireGuard interface's peers equal to what they say.
 *
 * Routing 6PN through WireGuard: the address plan puts the organization before the host
 * (`fdaa:0:ORG:HOST:…`), which keeps an organization one prefix (`fdaa:0:ORG::/48`, what
 * isolation matches), but means no single prefix covers "everything on host H". WireGuard's
 * allowed IPs decide both where a packet goes and which peer may send from an address, so each
 * peer is given `fdaa:0:0:H::/64` (the host itself) plus `fdaa:0:ORG:H::/64` for every
 * organization with a machine on it, read from the machines' `private_ip`. The list grows with
 * the organizations on a host, not with its machines, and a machine's prefix is known to every
 * host as soon as its row is, which is also when `.internal` DNS can name it. The kernel routes
 * all of `fdaa::/16` into the interface (local machines' /80s are more specific), and WireGuard
 * picks the peer.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../lib/log.ts';
import type { StateHandle, SubscriptionEvent, Value } from '../state/index.ts';
import { orgHostPrefix, parseSixpn, platformOrg } from './address-plan.ts';
import { uapiGet, uapiSet } from './uapi.ts';
import { isWireguardKey, wireguardKeyHex } from './wireguard-keys.ts';

/** A host as the mesh sees it (a row of `hosts`). */
export interface MeshHostRow {
  id: string;
  publicKey: string;
  endpoint: string;
  sixpnAddress: string;
}

export interface MeshPeer {
  hostId: string;
  publicKey: string;
  endpoint: string;
  /** Sorted prefixes this peer routes and may send from. */
  allowedIps: string[];
}

/** The peers a host should have: every other valid host, with the 6PN prefixes it serves. Pure. */
export function meshPeers(hosts: readonly MeshHostRow[], machineAddresses: readonly string[], localId: string, endpointOf: (host: MeshHostRow) => string = (h) => h.endpoint): MeshPeer[] {
  const orgsByHostNum = new Map<number, Set<number>>();
  for (const address of machineAddresses) {
    const parsed = parseSixpn(address);
    if (parsed === null || parsed.org === platformOrg) continue;
    const orgs = orgsByHostNum.get(parsed.hostNum) ?? new Set<number>();
    orgs.add(parsed.org);
    orgsByHostNum.set(parsed.hostNum, orgs);
  }
  const local = hosts.find((h) => h.id === localId);
  const seenNums = new Set<number>(local === undefined ? [] : [parseSixpn(local.sixpnAddress)?.hostNum ?? -1]);
  const seenKeys = new Set<string>(local === undefined ? [] : [local.publicKey]);
  const peers: MeshPeer[] = [];
  // In id order, so when two rows claim one host number or key every host keeps the same one.
  for (const host of [...hosts].sort((a, b) => a.id.localeCompare(b.id))) {
    if (host.id === localId || !isWireguardKey(host.publicKey) || !isEndpoint(host.endpoint)) continue;
    const sixpn = parseSixpn(host.sixpnAddress);
    if (sixpn === null || sixpn.org !== platformOrg || seenNums.has(sixpn.hostNum) || seenKeys.has(host.publicKey)) continue;
    seenNums.add(sixpn.hostNum);
    seenKeys.add(host.publicKey);
    const orgs = [...(orgsByHostNum.get(sixpn.hostNum) ?? [])].sort((a, b) => a - b);
    const allowedIps = [platformOrg, ...orgs].map((org) => orgHostPrefix(org, sixpn.hostNum));
    peers.push({ hostId: host.id, publicKey: host.publicKey, endpoint: endpointOf(host), allowedIps });
  }
  return peers;
}

function isEndpoint(endpoint: string): boolean {
  return /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(endpoint);
}

export interface MeshOptions {
  /** This host's id in the `hosts` table. */
  hostId: string;
  /** The local WireGuard interface (its wireguard-go must be running). */
  ifname: string;
  /** What this host publishes about itself. */
  publicKey: string;
  endpoint: string;
  sixpnAddress: string;
  /** Where to reach a peer; defaults to its published endpoint. A simulated fleet points it at the delay relay. */
  peerEndpoint?: (peer: MeshHostRow) => string;
  logger?: Logger;
}

export interface Mesh {
  /** The peers as last applied to the interface. */
  peers(): readonly MeshPeer[];
  /** Stops following the state layer; the interface keeps its peers. */
  close(): void;
}

/** A failed sync (the daemon restarting, say) is retried after this long. */
const syncRetryMs = 1_000;
/** How often the interface is read back, so peers lost to a restarted daemon come back. */
const reconcileIntervalMs = 5_000;

/**
 * Publishes this host's mesh columns in its `hosts` row, then keeps the interface's peers in
 * sync with the `hosts` and `machines` tables until closed. Only changed peers are written, so
 * established sessions are not disturbed.
 */
export async function meshFromState(state: StateHandle, options: MeshOptions): Promise<Mesh> {
  const log = options.logger ?? silentLogger();
  state.transaction([
    {
      sql: `INSERT INTO hosts (id, wg_public_key, wg_endpoint, sixpn_address) VALUES (?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET wg_public_key = excluded.wg_public_key, wg_endpoint = excluded.wg_endpoint, sixpn_address = excluded.sixpn_address`,
      params: [options.hostId, options.publicKey, options.endpoint, options.sixpnAddress],
    },
  ]);
  const abort = new AbortController();
  const hosts = new Map<number, MeshHostRow>();
  const machines = new Map<number, string>();
  let applied = new Map<string, MeshPeer>();
  let syncing: Promise<void> | null = null;
  let again = false;
  let retry: NodeJS.Timeout | undefined;

  const sync = async (): Promise<void> => {
    const desired = new Map(meshPeers([...hosts.values()], [...machines.values()], options.hostId, options.peerEndpoint).map((p) => [p.publicKey, p]));
    const lines: string[] = [];
    for (const key of applied.keys()) if (!desired.has(key)) lines.push(`public_key=${wireguardKeyHex(key)}`, 'remove=true');
    for (const [key, peer] of desired) {
      const before = applied.get(key);
      if (before !== undefined && JSON.stringify(before) === JSON.stringify(peer)) continue;
      lines.push(`public_key=${wireguardKeyHex(key)}`);
      if (before?.endpoint !== peer.endpoint) lines.push(`endpoint=${peer.endpoint}`);
      lines.push('replace_allowed_ips=true', ...peer.allowedIps.map((ip) => `allowed_ip=${ip}`));
    }
    if (lines.length === 0) return;
    await uapiSet(options.ifname, lines);
    applied = desired;
    log.debug({ ifname: options.ifname, peers: desired.size }, 'mesh peers updated');
  };
  const schedule = (): void => {
    if (abort.signal.aborted) return;
    if (syncing !== null) {
      again = true;
      return;
    }
    syncing = sync()
      .catch((err: unknown) => {
        log.warn({ err, ifname: options.ifname }, `mesh sync failed; retrying in ${syncRetryMs} ms`);
        clearTimeout(retry);
        retry = setTimeout(schedule, syncRetryMs);
      })
      .finally(() => {
        syncing = null;
        if (again) {
          again = false;
          schedule();
        }
      });
  };

  const hostRow = (v: Value[]): MeshHostRow => ({ id: String(v[0]), publicKey: String(v[1]), endpoint: String(v[2]), sixpnAddress: String(v[3]) });
  const follow = async (sql: string, rows: Map<number, unknown>, toRow: (v: Value[]) => unknown, ready: () => void): Promise<void> => {
    const { events } = state.subscribe(sql, [], { signal: abort.signal });
    for await (const event of events as AsyncGenerator<SubscriptionEvent>) {
      if (event.type === 'initial') {
        for (const r of event.rows) rows.set(r.rowid, toRow(r.values));
        ready();
      } else if (event.kind === 'delete') rows.delete(event.rowid);
      else rows.set(event.rowid, toRow(event.values));
      schedule();
    }
  };
  let ready = 0;
  await new Promise<void>((resolve, reject) => {
    const oneReady = (): void => {
      ready += 1;
      if (ready === 2) resolve();
    };
    const failed = (err: unknown): void => {
      if (!abort.signal.aborted) {
        log.error({ err }, 'mesh subscription ended');
        reject(err as Error);
      }
    };
    follow('SELECT id, wg_public_key, wg_endpoint, sixpn_address FROM hosts', hosts as Map<number, unknown>, hostRow, oneReady).catch(failed);
    follow("SELECT id, private_ip FROM machines WHERE private_ip LIKE 'fdaa:%'", machines as Map<number, unknown>, (v) => String(v[1]), oneReady).catch(failed);
  });
  schedule();
  await syncing;
  // Peers we applied that the interface no longer has as applied (a restarted daemon) are
  // forgotten, so the next sync writes them again. Peers it has that we never applied (a seeded
  // mesh, or an operator's) are left alone.
  const reconcile = setInterval(() => {
    uapiGet(options.ifname)
      .then((status) => {
        const actual = new Map(status.peers.map((p) => [p.publicKey, p.allowedIps.slice().sort().join()]));
        let lost = false;
        for (const [key, peer] of applied) {
          if (actual.get(key) !== [...peer.allowedIps].sort().join()) {
            applied.delete(key);
            lost = true;
          }
        }
        if (lost) schedule();
      })
      .catch((err: unknown) => log.warn({ err, ifname: options.ifname }, 'could not read the WireGuard interface back'));
  }, reconcileIntervalMs);
  reconcile.unref();
  return {
    peers: () => [...applied.values()],
    close: () => {
      abort.abort();
      clearTimeout(retry);
      clearInterval(reconcile);
    },
  };
}
