/**
 * The DNS server's own index of machines, kept in memory and fed by a state-layer subscription,
 * so answering a question never waits on the state layer (or on anything else).
 */
import { sleep } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { parseSixpn } from '../net/index.ts';
import type { StateHandle, SubscriptionEvent, Value } from '../state/index.ts';

/** One machine as DNS sees it. `org` is the organization number from its 6PN address. */
export interface DirectoryMachine {
  id: string;
  app: string;
  org: number;
  region: string;
  started: boolean;
  ip: string;
  /** The process group (`fly_process_group` in the machine's metadata); '' when none. */
  processGroup: string;
}

/** What the directory needs from a state node: only its subscriptions. */
export type DirectoryState = Pick<StateHandle, 'subscribe'>;

/** Column order matters: `rowToMachine` reads by position. */
const machinesQuery = 'SELECT id, app, region, state, private_ip, metadata FROM machines';
const resubscribeDelayMsMin = 100;
const resubscribeDelayMsMax = 5_000;

/**
 * An index of every addressable machine by organization and app. Rows whose `private_ip` is not
 * a 6PN address are left out (there is nothing to answer with, and no organization to file
 * them under); destroyed machines are left out; other states are kept so a name with only
 * stopped machines exists (NODATA) rather than vanishing (NXDOMAIN).
 *
 * Reads are synchronous and cheap; the subscription is reopened from scratch if it ends
 * (e.g. this reader fell too far behind), rebuilding the index from the new initial rows.
 */
export class DnsDirectory {
  private readonly byId = new Map<string, DirectoryMachine>();
  private readonly byOrg = new Map<number, Map<string, Map<string, DirectoryMachine>>>();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private changes = 0;
  private markReady!: () => void;
  /** Resolves once the first full set of rows is in. */
  readonly ready: Promise<void>;

  constructor(state: DirectoryState, log: Logger) {
    this.log = log;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    void this.follow(state);
  }

  /** Counts every change applied; the SOA serial, so a changed zone has a new serial. */
  get serial(): number {
    return this.changes % 2 ** 32;
  }

  /** App names of an organization with at least one (non-destroyed) machine, sorted. */
  apps(org: number): string[] {
    return [...(this.byOrg.get(org)?.keys() ?? [])].sort();
  }

  /** Machines of one app in an organization, in any state; undefined when the app has none. */
  machines(org: number, app: string): DirectoryMachine[] | undefined {
    const machines = this.byOrg.get(org)?.get(app);
    return machines === undefined ? undefined : [...machines.values()];
  }

  /** Every machine of an organization. */
  orgMachines(org: number): DirectoryMachine[] {
    return [...(this.byOrg.get(org)?.values() ?? [])].flatMap((m) => [...m.values()]);
  }

  /** Stops following the state layer; reads keep answering from the last index. */
  close(): void {
    this.abort.abort();
  }

  private async follow(state: DirectoryState): Promise<void> {
    for (let attempt = 0; !this.abort.signal.aborted; attempt += 1) {
      try {
        const sub = state.subscribe(machinesQuery, [], { signal: this.abort.signal });
        for await (const event of sub.events) {
          this.apply(event);
          attempt = 0;
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.log.warn({ err }, 'DNS lost its machines subscription; resubscribing');
      }
      if (this.abort.signal.aborted) return;
      await sleep(Math.min(resubscribeDelayMsMax, resubscribeDelayMsMin * 2 ** attempt), this.abort.signal).catch(() => undefined);
    }
  }

  private apply(event: SubscriptionEvent): void {
    this.changes += 1;
    if (event.type === 'initial') {
      this.byId.clear();
      this.byOrg.clear();
      for (const row of event.rows) this.upsert(row.values);
      this.markReady();
      return;
    }
    if (event.kind === 'delete') this.remove(String(event.values[0]));
    else this.upsert(event.values);
  }

  private upsert(values: Value[]): void {
    const id = String(values[0]);
    this.remove(id);
    const machine = rowToMachine(values);
    if (machine === null) return;
    this.byId.set(id, machine);
    let apps = this.byOrg.get(machine.org);
    if (apps === undefined) this.byOrg.set(machine.org, (apps = new Map()));
    let machines = apps.get(machine.app);
    if (machines === undefined) apps.set(machine.app, (machines = new Map()));
    machines.set(id, machine);
  }

  private remove(id: string): void {
    const old = this.byId.get(id);
    if (old === undefined) return;
    this.byId.delete(id);
    const apps = this.byOrg.get(old.org)!;
    const machines = apps.get(old.app)!;
    machines.delete(id);
    if (machines.size === 0) apps.delete(old.app);
    if (apps.size === 0) this.byOrg.delete(old.org);
  }
}

/** A row of `machinesQuery` as a directory entry; null when DNS has nothing to say about it. */
function rowToMachine(values: Value[]): DirectoryMachine | null {
  const [id, app, region, state, ip, metadata] = values.map((v) => (typeof v === 'string' ? v : ''));
  if (id === '' || app === '' || state === 'destroyed' || state === 'destroying') return null;
  const sixpn = parseSixpn(ip!);
  // Org 0 is the platform's own range (fdaa::3 lives there), never a tenant's.
  if (sixpn === null || sixpn.org === 0) return null;
  return { id: id!.toLowerCase(), app: app!.toLowerCase(), org: sixpn.org, region: region!.toLowerCase(), started: state === 'started', ip: ip!, processGroup: processGroupOf(metadata!) };
}

function processGroupOf(metadata: string): string {
  try {
    const parsed = JSON.parse(metadata) as unknown;
    const group = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).fly_process_group : undefined;
    return typeof group === 'string' ? group.toLowerCase() : '';
  } catch {
    return '';
  }
}
