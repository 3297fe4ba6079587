/**
 * Runs the health checks of every started machine on this host and records their status in
 * the machine's record (so the Machine view, the state layer and the proxy's routes see it).
 *
 * A machine's checks begin when it reaches `started`: each is `warning` until its grace period
 * is over and its first probe answers, then probed every interval. Leaving `started` (stop,
 * update, destroy, exit) ends them and clears the statuses, so a started machine never shows a
 * stale result from an earlier run. After an agent restart a machine still running keeps its
 * last statuses (a failing machine stays out of routing) until its probes answer again.
 */
import type { CheckStatus, Clock, Logger } from '../../lib/index.ts';
import type { MachineRecord } from '../record.ts';
import { probe, type ProbeResult } from './probe.ts';
import { checkSpecsOf, type CheckSpec } from './specs.ts';

/** What the runner needs of the machine service. */
export interface CheckedMachines {
  list(): MachineRecord[];
  onChange(listener: (record: MachineRecord) => void): () => void;
  /** Writes the statuses if `instanceId` is still the machine's instance; returns false otherwise. */
  recordChecks(id: string, instanceId: string, checks: CheckStatus[]): boolean;
}

interface Tracked {
  instanceId: string;
  statuses: CheckStatus[];
  timers: Set<NodeJS.Timeout>;
  stopped: boolean;
}

export class CheckRunner {
  readonly #machines: CheckedMachines;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #tracked = new Map<string, Tracked>();
  #unsubscribe: (() => void) | undefined;

  constructor(machines: CheckedMachines, clock: Clock, logger: Logger) {
    this.#machines = machines;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Starts following machine changes and the checks of machines already started. Idempotent. */
  start(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.#machines.onChange((record) => this.#follow(record));
    for (const record of this.#machines.list()) this.#follow(record);
  }

  /** Stops every probe; statuses stay as last recorded. */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const id of [...this.#tracked.keys()]) this.#untrack(id);
  }

  #follow(record: MachineRecord): void {
    const tracked = this.#tracked.get(record.id);
    if (record.state !== 'started') {
      if (tracked !== undefined) this.#untrack(record.id);
      // Deferred: listeners run inside the service's own write.
      if ((record.checks ?? []).length > 0) queueMicrotask(() => this.#machines.recordChecks(record.id, record.instanceId, []));
      return;
    }
    if (tracked?.instanceId === record.instanceId) return;
    if (tracked !== undefined) this.#untrack(record.id);
    this.#track(record);
  }

  #track(record: MachineRecord): void {
    const specs = checkSpecsOf(record.config);
    if (specs.length === 0 || record.network === undefined) return;
    const address = record.network.ipv4;
    const kept = new Map((record.checks ?? []).map((c) => [c.name, c]));
    const now = new Date(this.#clock.now()).toISOString();
    const tracked: Tracked = {
      instanceId: record.instanceId,
      statuses: specs.map((s) => kept.get(s.name) ?? { name: s.name, status: 'warning', output: 'waiting for the grace period and the first probe', updated_at: now }),
      timers: new Set(),
      stopped: false,
    };
    this.#tracked.set(record.id, tracked);
    const initial = tracked.statuses;
    if (!sameStatuses(record.checks ?? [], initial)) queueMicrotask(() => this.#write(record.id, tracked));
    for (const [i, spec] of specs.entries()) this.#schedule(record.id, tracked, i, spec, address, spec.gracePeriodMs);
  }

  #untrack(id: string): void {
    const tracked = this.#tracked.get(id);
    if (tracked === undefined) return;
    tracked.stopped = true;
    for (const timer of tracked.timers) clearTimeout(timer);
    this.#tracked.delete(id);
  }

  #schedule(id: string, tracked: Tracked, index: number, spec: CheckSpec, address: string, afterMs: number): void {
    const timer = setTimeout(() => {
      tracked.timers.delete(timer);
      void probe(spec, address)
        .then(
          (result) => {
            if (!tracked.stopped) this.#apply(id, tracked, index, result);
          },
          (err: unknown) => this.#logger.error({ machine: id, check: spec.name, err: String(err) }, 'check probe failed'),
        )
        .finally(() => {
          if (!tracked.stopped) this.#schedule(id, tracked, index, spec, address, spec.intervalMs);
        });
    }, afterMs);
    tracked.timers.add(timer);
  }

  #apply(id: string, tracked: Tracked, index: number, result: ProbeResult): void {
    const previous = tracked.statuses[index]!;
    if (previous.status === result.status && previous.output === result.output) return;
    if (previous.status !== result.status) {
      this.#logger.info({ machine: id, check: previous.name, from: previous.status, to: result.status, output: result.output }, 'check changed');
    }
    tracked.statuses = tracked.statuses.map((s, i) => (i === index ? { ...s, ...result, updated_at: new Date(this.#clock.now()).toISOString() } : s));
    this.#write(id, tracked);
  }

  #write(id: string, tracked: Tracked): void {
    if (tracked.stopped) return;
    if (!this.#machines.recordChecks(id, tracked.instanceId, tracked.statuses)) this.#untrack(id);
  }
}

function sameStatuses(a: CheckStatus[], b: CheckStatus[]): boolean {
  return a.length === b.length && a.every((x, i) => x.name === b[i]!.name && x.status === b[i]!.status && x.output === b[i]!.output);
}
