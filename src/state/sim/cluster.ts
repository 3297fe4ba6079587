import Database from 'better-sqlite3';
import { silentLogger } from '../../lib/log.ts';
import { Store } from '../crdt/store.ts';
import { defaultLimits, defaultTiming, type StateLimits, type StateTiming } from '../limits.ts';
import { StateNode } from '../node.ts';
import { randomHexFrom, type Random, seededRandom } from '../random.ts';
import type { Runtime } from '../runtime.ts';
import type { Schema } from '../schema/schema.ts';
import { EventQueue } from './events.ts';
import { SimNetwork } from './network.ts';

export interface SimHost {
  addr: string;
  region: string;
  /** Null while crashed. */
  node: StateNode | null;
  /** The "disk": the database image taken at the crash, reopened at restart. */
  disk: Buffer | null;
  /** Bumped at each crash so timers of the previous life never fire. */
  life: number;
}

export interface SimClusterOptions {
  seed: number;
  regions: readonly string[];
  nodes: number;
  rttMs: (a: string, b: string) => number;
  schema: Schema;
  timing?: Partial<StateTiming>;
  limits?: Partial<StateLimits>;
}

export const simClusterKey = Buffer.from('aloft-simulated-cluster-key-0001');

/**
 * A whole cluster in one process: the real StateNode code over a virtual clock, seeded
 * randomness and a simulated network. Hosts can crash (their database image survives) and
 * restart from that image.
 */
export class SimCluster {
  readonly events = new EventQueue();
  readonly network: SimNetwork;
  readonly hosts: SimHost[] = [];
  readonly random: Random;
  private readonly options: SimClusterOptions;
  private readonly timing: StateTiming;
  private readonly limits: StateLimits;

  constructor(options: SimClusterOptions) {
    this.options = options;
    this.random = seededRandom(options.seed);
    this.network = new SimNetwork(this.events, seededRandom(options.seed ^ 0x5eed), options.rttMs);
    this.timing = { ...defaultTiming, ...options.timing };
    this.limits = { ...defaultLimits, ...options.limits };
    for (let i = 0; i < options.nodes; i++) {
      const host: SimHost = { addr: `n${i}`, region: options.regions[i % options.regions.length]!, node: null, disk: null, life: 0 };
      this.hosts.push(host);
      this.boot(host, Buffer.alloc(0));
    }
  }

  get nowMs(): number {
    return this.events.nowMs;
  }

  live(): SimHost[] {
    return this.hosts.filter((h) => h.node !== null);
  }

  runFor(ms: number): void {
    this.events.runUntil(this.events.nowMs + ms);
  }

  crash(host: SimHost): void {
    if (host.node === null) return;
    host.disk = host.node.store.db.serialize();
    host.node.stop();
    host.node.store.close();
    host.node = null;
    host.life++;
    this.network.detach(host.addr);
  }

  restart(host: SimHost): void {
    if (host.node !== null || host.disk === null) return;
    this.boot(host, host.disk);
    host.disk = null;
  }

  private boot(host: SimHost, image: Buffer): void {
    const life = host.life;
    const random = seededRandom(Math.floor(this.random.next() * 2 ** 32));
    const runtime: Runtime = {
      now: () => this.events.nowMs,
      random,
      schedule: (afterMs, fn) => {
        let cancelled = false;
        this.events.at(this.events.nowMs + afterMs, () => {
          if (!cancelled && host.life === life) fn();
        });
        return () => {
          cancelled = true;
        };
      },
      send: (to, bytes) => {
        if (host.life === life) this.network.send(host.addr, to, bytes);
      },
    };
    const db = image.length === 0 ? new Database(':memory:') : new Database(image);
    const store = new Store(db, { schema: this.options.schema, newSiteId: () => randomHexFrom(random, 8), limits: this.limits, log: silentLogger() });
    const node = new StateNode({
      store,
      runtime,
      address: host.addr,
      clusterKey: simClusterKey,
      seeds: this.hosts.slice(0, 2).map((h) => h.addr),
      timing: this.timing,
      limits: this.limits,
      log: silentLogger(),
    });
    host.node = node;
    this.network.attach(host.addr, host.region, (bytes) => node.receive(bytes));
    node.start();
  }
}
