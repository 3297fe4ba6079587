/**
 * Feeds a host's proxy from its state node: every machine of every app (the rows each agent
 * publishes), and every other host's proxy as a peer to forward to. Machines of a host that
 * stopped, that SWIM finds suspect or dead, or whose proxy stopped answering this proxy's pings,
 * leave the route table until the host is back — so a dead host is routed around as soon as
 * either notices, without waiting for anyone to rewrite its rows (only its own agent may). The
 * same view of the hosts says which proxy of the region decides autostop.
 */
import type { Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import { parseSixpn } from '../net/index.ts';
import type { MachineRoute, PeerProxy, Peers, RouteTable } from '../proxy/index.ts';
import type { Member, StateHandle, SubscriptionEvent, Value } from '../state/index.ts';

const machinesQuery = 'SELECT id, app, org, state, region, host_id, local_ip, private_ip, services, checks FROM machines';
const hostsQuery = 'SELECT id, region, proxy_url, state, state_node FROM hosts';
const resubscribeDelayMs = 200;
/** How often the peers' ping results are read for hosts that stopped answering. */
const peerCheckIntervalMs = 250;

interface HostRow {
  id: string;
  region: string;
  proxyUrl: string;
  state: string;
  stateNode: string;
}

export interface ProxyFeedOptions {
  state: Pick<StateHandle, 'subscribe' | 'members' | 'onMemberChange'>;
  routes: RouteTable;
  /** Other hosts' proxies; undefined = this proxy forwards nowhere. */
  peers: Peers | undefined;
  /** This host: its machines are always routable here (it is alive if it reads this). */
  selfHostId: string;
  /** This host's region, for deciding which of its proxies decides autostop. */
  region: string;
  logger: Logger;
}

export class ProxyFeed {
  readonly #o: ProxyFeedOptions;
  readonly #machines = new Map<string, MachineRoute>();
  readonly #hosts = new Map<string, HostRow>();
  /** Whether each host's machines are in the route table, as last decided. */
  readonly #hostAlive = new Map<string, boolean>();
  /** Hosts whose proxy answered a ping at least once, and those of them that no longer answer. */
  readonly #answered = new Set<string>();
  #silent = new Set<string>();
  readonly #abort = new AbortController();
  readonly #unsubscribeMembers: () => void;
  readonly #peerCheck: NodeJS.Timeout;

  constructor(options: ProxyFeedOptions) {
    this.#o = options;
    this.#unsubscribeMembers = options.state.onMemberChange(() => this.#refreshAll());
    this.#peerCheck = setInterval(() => this.#checkPeers(), peerCheckIntervalMs);
    this.#peerCheck.unref();
    void this.#follow(machinesQuery, (values) => this.#machineRow(values), (id) => this.#machineGone(id));
    void this.#follow(hostsQuery, (values) => this.#hostRow(values), (id) => this.#hosts.delete(id));
  }

  close(): void {
    this.#abort.abort();
    this.#unsubscribeMembers();
    clearInterval(this.#peerCheck);
  }

  #checkPeers(): void {
    const silent = new Set<string>();
    for (const p of this.#o.peers?.rtts() ?? []) {
      if (p.rttMs !== undefined) this.#answered.add(p.hostId);
      else if (this.#answered.has(p.hostId)) silent.add(p.hostId);
    }
    const changed = silent.size !== this.#silent.size || [...silent].some((id) => !this.#silent.has(id));
    this.#silent = silent;
    if (changed) this.#refreshAll();
  }

  async #follow(sql: string, upsert: (values: Value[]) => void, remove: (id: string) => void): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        for await (const event of this.#o.state.subscribe(sql, [], { signal }).events) this.#apply(event, upsert, remove);
      } catch (err) {
        if (signal.aborted) return;
        this.#o.logger.warn({ err }, 'proxy lost a state subscription; resubscribing');
      }
      await sleep(resubscribeDelayMs, signal).catch(() => undefined);
    }
  }

  #apply(event: SubscriptionEvent, upsert: (values: Value[]) => void, remove: (id: string) => void): void {
    if (event.type === 'initial') {
      for (const row of event.rows) upsert(row.values);
    } else if (event.kind === 'delete') {
      remove(String(event.values[0]));
    } else {
      upsert(event.values);
    }
  }

  #machineRow(values: Value[]): void {
    const [id, app, org, state, region, hostId, localIp, privateIp, services, checks] = values.map((v) => (typeof v === 'string' ? v : ''));
    // Its own host reaches a machine at its host-local address; other hosts over the private
    // network, at its 6PN address (without one, as on loopback fleets, the local address is shared).
    const remote = hostId !== this.#o.selfHostId && parseSixpn(privateIp!) !== null;
    const route: MachineRoute = {
      id: id!,
      app: app!,
      org: org!,
      state: state!,
      region: region!,
      hostId: hostId!,
      address: remote ? privateIp! : localIp!,
      services: parseJsonArray(services!),
      checks: parseJsonArray(checks!),
    };
    this.#machines.set(route.id, route);
    this.#place(route);
  }

  #machineGone(id: string): void {
    this.#machines.delete(id);
    this.#o.routes.remove(id);
  }

  #hostRow(values: Value[]): void {
    const [id, region, proxyUrl, state, stateNode] = values.map((v) => (typeof v === 'string' ? v : ''));
    this.#hosts.set(id!, { id: id!, region: region!, proxyUrl: proxyUrl!, state: state!, stateNode: stateNode! });
    this.#refreshAll();
  }

  /** After a host or membership change: re-places the machines of hosts whose liveness changed, and resets the peers. */
  #refreshAll(): void {
    const changed = new Set<string>();
    for (const hostId of new Set([...this.#hosts.keys(), ...this.#hostAlive.keys()])) {
      const alive = this.#alive(hostId);
      if (this.#hostAlive.get(hostId) !== alive) changed.add(hostId);
      this.#hostAlive.set(hostId, alive);
    }
    if (changed.size > 0) for (const route of this.#machines.values()) if (changed.has(route.hostId)) this.#place(route);
    // Every running host stays a peer, answering or not: its pings tell when it is back.
    const peers: PeerProxy[] = [];
    for (const h of this.#hosts.values()) {
      if (h.id === this.#o.selfHostId || h.proxyUrl === '' || h.state !== 'up') continue;
      const url = new URL(h.proxyUrl);
      peers.push({ hostId: h.id, region: h.region, address: `${url.hostname}:${url.port === '' ? 80 : url.port}` });
    }
    this.#o.peers?.set(peers);
  }

  #place(route: MachineRoute): void {
    const alive = this.#hostAlive.get(route.hostId) ?? this.#alive(route.hostId);
    if (alive) this.#o.routes.upsert(route);
    else this.#o.routes.remove(route.id);
  }

  /**
   * Whether this host's proxy decides autostop for its region: no host of the region with a
   * lower id is up, answering pings and alive to SWIM. A host SWIM has not heard of does not
   * count here (unlike for routing), so one that died before this host joined cannot leave the
   * region without a decider.
   */
  leadsRegion(): boolean {
    const members = this.#o.state.members();
    for (const h of this.#hosts.values()) {
      if (h.region !== this.#o.region || h.id >= this.#o.selfHostId || h.proxyUrl === '' || h.state !== 'up' || this.#silent.has(h.id)) continue;
      if (members.find((m) => m.id === h.stateNode)?.state === 'alive') return false;
    }
    return true;
  }

  /** A host is alive while its row says up, its proxy answers, and SWIM has it alive (or has not heard of it yet). */
  #alive(hostId: string): boolean {
    if (hostId === this.#o.selfHostId) return true;
    const host = this.#hosts.get(hostId);
    if (host === undefined || host.state !== 'up' || this.#silent.has(hostId)) return false;
    const member: Member | undefined = this.#o.state.members().find((m) => m.id === host.stateNode);
    return member === undefined || member.state === 'alive';
  }
}

/** A JSON array column; anything else (the checks column's default is '{}') reads as none, so one odd row cannot stall the feed. */
function parseJsonArray<T>(text: string): T[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}
