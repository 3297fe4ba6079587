/**
 * The agent's machine service: accepts lifecycle requests, checks them against the machine's
 * state and lease, records what the user wants (`desired`) and hands the work to durable
 * operations. Also applies restart policies when a machine exits, and on boot reconciles what
 * the host actually runs with what the records say.
 */
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AloftError,
  ConflictError,
  NotFoundError,
  TimeoutError,
  ValidationError,
  machineConfigSchema,
  parseOrThrow,
  randomHex,
  type CheckStatus,
  type Clock,
  type Logger,
  type MachineConfig,
  type MachineState,
} from '../lib/index.ts';
import { CapacityLedger, type HostCapacity, type Reservation } from './capacity.ts';
import { withEvent } from './events.ts';
import { OperationEngine, queuedOperationsPerSubjectMax, type CrashHook } from './fsm/index.ts';
import type { HostRuntime } from './host-runtime.ts';
import { readLogTail } from './logs.ts';
import { logPathOf, logTailLinesOnFailure, machineOperations, newInstanceId } from './operations.ts';
import type { LeaseRecord, MachineRecord } from './record.ts';
import type { ExecResult, ExitInfo } from './runtime/driver.ts';
import { AgentStore } from './store.ts';
import { noSecrets, type AppSecretsSource } from './secrets.ts';

export const defaultMaxRetries = 10;
export const waitTimeoutMaxMs = 60_000;
export const leaseTtlMaxS = 3600;
export const logReadBytesMax = 256 * 1024;
/** On shutdown, machines get this long to stop after SIGTERM before they are killed. */
export const shutdownStopTimeoutMs = 5_000;

export interface MachineServiceOptions {
  dataDir: string;
  hostId: string;
  region: string;
  capacity: HostCapacity;
  runtime: HostRuntime;
  clock: Clock;
  logger: Logger;
  crashHook?: CrashHook;
  /** Where prepared instances get their app's secrets; default none. */
  secrets?: AppSecretsSource;
}

export interface CreateMachineInput {
  id: string;
  name?: string;
  app: string;
  appId: string;
  org: string;
  orgNum: number;
  config: unknown;
  skipLaunch?: boolean;
  /** Start cordoned: out of proxy routing until uncordoned. */
  skipServiceRegistration?: boolean;
  reservationId?: string;
}

type Listener = (record: MachineRecord) => void;

export class MachineService {
  readonly store: AgentStore;
  readonly capacity: CapacityLedger;
  readonly #opts: MachineServiceOptions;
  readonly #engine: OperationEngine;
  readonly #machinesDir: string;
  readonly #listeners = new Set<Listener>();
  readonly #watches = new Map<string, () => void>();

  constructor(opts: MachineServiceOptions) {
    this.#opts = opts;
    this.#machinesDir = join(opts.dataDir, 'machines');
    this.store = new AgentStore(join(opts.dataDir, 'agent.lmdb'));
    this.capacity = new CapacityLedger(opts.capacity, opts.clock, this.store);
    this.#engine = new OperationEngine({
      log: this.store,
      clock: opts.clock,
      logger: opts.logger,
      ...(opts.crashHook === undefined ? {} : { crashHook: opts.crashHook }),
    });
    const ops = machineOperations({
      store: this.store,
      runtime: opts.runtime,
      clock: opts.clock,
      machinesDir: this.#machinesDir,
      changed: (record) => this.#emit(record),
      watchExit: (id) => this.#watchExit(id),
      secrets: opts.secrets ?? noSecrets,
    });
    for (const def of ops) this.#engine.define(def);
  }

  get hostId(): string {
    return this.#opts.hostId;
  }

  get region(): string {
    return this.#opts.region;
  }

  /** Resumes interrupted operations, then brings every machine to what its record asks for. */
  async boot(): Promise<void> {
    await mkdir(this.#machinesDir, { recursive: true });
    const resumed = new Set(this.#engine.resume().map((op) => op.subject));
    for (const record of this.store.machines()) {
      if (resumed.has(record.id)) continue;
      await this.#reconcile(record);
    }
  }

  /** Subscribes to every change of every machine record. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  list(includeDestroyed = false): MachineRecord[] {
    return this.store.machines().filter((m) => includeDestroyed || m.state !== 'destroyed');
  }

  get(id: string): MachineRecord {
    const record = this.store.getMachine(id);
    if (record === undefined) throw new NotFoundError('machine', id);
    return record;
  }

  reserve(request: HostCapacity): Reservation {
    return this.capacity.reserve(request, this.list(), this.#opts.hostId);
  }

  async create(input: CreateMachineInput): Promise<MachineRecord> {
    const config = parseOrThrow(machineConfigSchema, input.config, 'config');
    if (this.store.getMachine(input.id) !== undefined) throw new ConflictError('machine_exists', `machine ${input.id} already exists`);
    await mkdir(join(this.#machinesDir, input.id), { recursive: true });
    // From the claim to the save nothing awaits, so a concurrent reservation sees this machine's share.
    if (input.reservationId === undefined || !this.capacity.claim(input.reservationId)) {
      // No (or an expired) reservation: check capacity now, immediate-or-cancel as always.
      const r = this.reserve({ cpus: config.guest.cpus, memoryMb: config.guest.memory_mb });
      this.capacity.claim(r.id);
    }
    const now = this.#opts.clock.now();
    let record: MachineRecord = {
      id: input.id,
      name: input.name ?? input.id,
      app: input.app,
      appId: input.appId,
      org: input.org,
      orgNum: input.orgNum,
      region: this.#opts.region,
      hostId: this.#opts.hostId,
      state: 'created',
      desired: input.skipLaunch === true ? 'stopped' : 'started',
      instanceId: newInstanceId(),
      config,
      restartCount: 0,
      stopRequested: false,
      events: [],
      metadataVersion: 0,
      createdAt: now,
      updatedAt: now,
      ...(input.skipServiceRegistration === true ? { cordoned: true } : {}),
    };
    record = withEvent(record, now, 'launch', 'created', 'flyd');
    this.#save(record);
    this.#engine.submit('create', record.id);
    return record;
  }

  async start(id: string, nonce?: string): Promise<{ previous_state: MachineState; record: MachineRecord }> {
    const record = this.#mutable(id, nonce);
    if (record.desired === 'started' && (record.state === 'started' || record.state === 'starting')) {
      throw new ConflictError('already_started', `machine ${id} is already started`, {
        hint: 'restart it with `aloft machine restart` if you want a fresh process',
      });
    }
    this.#requireSettled(record, 'start');
    if (record.desired === 'started' && this.#engine.depth(id) > 0) {
      throw new ConflictError('machine_busy', `machine ${id} is being restarted by its restart policy`, {
        hint: `wait for it (aloft machine status ${id}); stop it first if you want it down`,
      });
    }
    const next = this.#save({ ...record, desired: 'started', restartCount: 0 });
    this.#engine.submit('start', id);
    return { previous_state: record.state, record: next };
  }

  async stop(id: string, options: { signal?: string; timeoutMs?: number }, nonce?: string): Promise<MachineRecord> {
    const record = this.#mutable(id, nonce);
    if (record.desired !== 'started') {
      throw new ConflictError('already_stopped', `machine ${id} is already stopped`, { hint: 'start it with `aloft machine start`' });
    }
    const next = this.#save({ ...record, desired: 'stopped', stopRequested: true, state: record.state === 'started' ? 'stopping' : record.state });
    this.#engine.submit('stop', id, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    return next;
  }

  async restart(id: string, options: { signal?: string; timeoutMs?: number }, nonce?: string): Promise<MachineRecord> {
    const record = this.#mutable(id, nonce);
    if (record.desired !== 'started') {
      throw new ConflictError('not_started', `machine ${id} is stopped; restart needs a started machine`, {
        hint: 'start it with `aloft machine start`',
      });
    }
    const next = this.#save(withEvent({ ...record, stopRequested: true, restartCount: 0 }, this.#opts.clock.now(), 'restart', 'restarting', 'user'));
    this.#engine.submit('restart', id, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    return next;
  }

  /** Takes the machine out of proxy routing, or puts it back; it keeps running either way. */
  setCordoned(id: string, cordoned: boolean, nonce?: string): MachineRecord {
    const record = this.#mutable(id, nonce);
    if ((record.cordoned ?? false) === cordoned) return record;
    return this.#save({ ...record, cordoned });
  }

  async update(id: string, rawConfig: unknown, options: { skipLaunch?: boolean }, nonce?: string): Promise<MachineRecord> {
    const config = parseOrThrow(machineConfigSchema, rawConfig, 'config');
    const record = this.#mutable(id, nonce);
    this.#checkResize(record, config);
    // As on Fly: an update starts the machine unless skip_launch is set. A deploy passes it for
    // machines that were stopped on purpose (scaled to zero), so a release does not wake them.
    const desired = options.skipLaunch === true ? 'stopped' : 'started';
    const next = this.#save({ ...record, pendingConfig: config, desired, state: 'replacing', stopRequested: true });
    this.#engine.submit('update', id);
    return next;
  }

  async destroy(id: string, force: boolean, nonce?: string): Promise<MachineRecord> {
    // A destroy that failed or is still running may be asked for again.
    const record = this.#mutable(id, nonce, true);
    if (record.desired === 'destroyed' && this.#engine.depth(id) > 0) return record;
    if (!force && (record.state === 'started' || record.state === 'starting')) {
      throw new ConflictError('machine_running', `machine ${id} is running; destroying it would kill its process`, {
        status: 412,
        hint: 'stop it first, or pass force=true (`aloft machine destroy --force`)',
      });
    }
    const next = this.#save({ ...record, desired: 'destroyed', stopRequested: true, state: 'destroying' });
    this.#engine.submit('destroy', id, force ? { signal: 'SIGKILL', timeoutMs: 0 } : {});
    this.#unwatch(id);
    return next;
  }

  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const record = this.get(id);
    if (record.state !== 'started') {
      throw new ConflictError('not_running', `machine ${id} is ${record.state}; only a started machine can be signalled`);
    }
    await this.#opts.runtime.driver.signal(id, signal);
  }

  async exec(id: string, cmd: string[], timeoutMs: number, stdin?: Buffer): Promise<ExecResult> {
    const record = this.get(id);
    if (record.state !== 'started') {
      throw new ConflictError('not_running', `machine ${id} is ${record.state}; exec needs a started machine`);
    }
    return this.#opts.runtime.driver.exec(id, cmd, timeoutMs, stdin);
  }

  /** Waits until the machine reaches `state` (and, if given, is on `instanceId`); 408 on timeout. */
  async wait(id: string, state: MachineState, timeoutMs: number, instanceId?: string): Promise<MachineRecord> {
    const bounded = Math.min(timeoutMs, waitTimeoutMaxMs);
    const matches = (r: MachineRecord): boolean =>
      r.state === state && (instanceId === undefined || r.instanceId === instanceId || state === 'destroyed');
    const current = this.get(id);
    if (matches(current)) return current;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        const now = this.store.getMachine(id);
        reject(
          new TimeoutError(`machine ${id} did not reach state '${state}' within ${bounded / 1000}s (it is ${now?.state ?? 'gone'})`, {
            details: { machine: id, expected_state: state, state: now?.state },
            hint: 'check its events and logs: `aloft machine status` and `aloft logs`',
          }),
        );
      }, bounded);
      const unsubscribe = this.onChange((r) => {
        if (r.id !== id || !matches(r)) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(r);
      });
    });
  }

  /** Reads the machine's log from `offset` (bytes); `next_offset` continues it. */
  async readLogs(id: string, offset: number): Promise<{ data: string; next_offset: number }> {
    this.get(id);
    const path = logPathOf(this.#machinesDir, id);
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch {
      return { data: '', next_offset: 0 };
    }
    const start = Math.min(Math.max(0, offset), size);
    const length = Math.min(size - start, logReadBytesMax);
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, start);
      return { data: buf.toString('utf8'), next_offset: start + length };
    } finally {
      await handle.close();
    }
  }

  /** Records health check results of instance `instanceId`; false when the machine has moved on to another. */
  recordChecks(id: string, instanceId: string, checks: CheckStatus[]): boolean {
    const record = this.store.getMachine(id);
    if (record === undefined || record.instanceId !== instanceId) return false;
    this.#save({ ...record, checks });
    return true;
  }

  getLease(id: string): LeaseRecord {
    const lease = this.#activeLease(this.get(id));
    if (lease === undefined) throw new NotFoundError('lease', id);
    return lease;
  }

  acquireLease(id: string, ttlS: number, description: string, owner: string, nonce?: string): LeaseRecord {
    const record = this.get(id);
    const held = this.#activeLease(record);
    if (held !== undefined && held.nonce !== nonce) {
      throw new ConflictError('lease_held', `machine ${id} is leased by ${held.owner} until ${new Date(held.expiresAtMs).toISOString()}`, {
        hint: 'wait for the lease to expire, or send its nonce in the fly-machine-lease-nonce header',
      });
    }
    if (!(ttlS > 0 && ttlS <= leaseTtlMaxS)) {
      throw new ValidationError(`ttl must be between 1 and ${leaseTtlMaxS} seconds`, { field: 'ttl' });
    }
    const lease: LeaseRecord = {
      nonce: held?.nonce ?? randomHex(16),
      owner,
      description,
      expiresAtMs: this.#opts.clock.now() + ttlS * 1000,
      version: randomHex(8),
    };
    this.#save({ ...record, lease });
    return lease;
  }

  releaseLease(id: string, nonce?: string): void {
    const record = this.get(id);
    const held = this.#activeLease(record);
    if (held === undefined) return;
    if (held.nonce !== nonce) {
      throw new ConflictError('lease_held', `machine ${id} is leased by ${held.owner}; only its holder can release it`, {
        hint: 'send the lease nonce in the fly-machine-lease-nonce header',
      });
    }
    const { lease: _released, ...rest } = record;
    this.#save(rest);
  }

  /**
   * Stops the service. With `stopMachines` (a clean `aloft up` shutdown) running machines are
   * stopped but keep `desired: started`, so the next boot starts them again.
   */
  async shutdown(stopMachines: boolean): Promise<void> {
    await this.#engine.close();
    for (const unwatch of this.#watches.values()) unwatch();
    this.#watches.clear();
    if (stopMachines) {
      const running = this.list().filter((m) => m.state === 'started' || m.state === 'starting');
      await Promise.allSettled(
        running.map(async (m) => {
          const exit = await this.#opts.runtime.driver.stop(m.id, 'SIGTERM', shutdownStopTimeoutMs);
          const current = this.get(m.id);
          this.#save({ ...current, state: 'stopped', ...(exit === null ? {} : { lastExit: exit }) });
        }),
      );
    }
    await this.store.close();
  }

  #mutable(id: string, nonce: string | undefined, allowDestroying = false): MachineRecord {
    const record = this.get(id);
    if (this.#engine.depth(id) >= queuedOperationsPerSubjectMax) {
      // Checked before anything is written, so a refused request changes nothing.
      throw new AloftError('too_many_operations', 'user', `machine ${id} already has ${queuedOperationsPerSubjectMax} operations waiting`, {
        status: 429,
        hint: 'wait for them to finish (aloft machine status) and try again',
      });
    }
    if (record.state === 'destroyed' || (record.desired === 'destroyed' && !allowDestroying)) {
      throw new ConflictError('machine_destroyed', `machine ${id} is destroyed`, { status: 410 });
    }
    const lease = this.#activeLease(record);
    if (lease !== undefined && lease.nonce !== nonce) {
      throw new ConflictError('lease_held', `machine ${id} is leased by ${lease.owner}`, {
        hint: 'send the lease nonce in the fly-machine-lease-nonce header, or wait for the lease to expire',
      });
    }
    return record;
  }

  #requireSettled(record: MachineRecord, action: string): void {
    if (record.state === 'stopping' || record.state === 'replacing' || record.state === 'destroying') {
      throw new ConflictError('machine_busy', `machine ${record.id} is ${record.state}; cannot ${action} it now`, {
        hint: `wait for it to settle (aloft machine status ${record.id}) and try again`,
      });
    }
  }

  #checkResize(record: MachineRecord, config: MachineConfig): void {
    const extraCpus = config.guest.cpus - record.config.guest.cpus;
    const extraMemoryMb = config.guest.memory_mb - record.config.guest.memory_mb;
    if (extraCpus <= 0 && extraMemoryMb <= 0) return;
    const r = this.reserve({ cpus: Math.max(0, extraCpus), memoryMb: Math.max(0, extraMemoryMb) });
    // The grown share becomes part of the machine once the new config is recorded.
    this.capacity.release(r.id);
  }

  #activeLease(record: MachineRecord): LeaseRecord | undefined {
    const lease = record.lease;
    return lease !== undefined && lease.expiresAtMs > this.#opts.clock.now() ? lease : undefined;
  }

  #save(record: MachineRecord): MachineRecord {
    const next = { ...record, updatedAt: this.#opts.clock.now() };
    this.store.putMachine(next);
    this.#emit(next);
    return next;
  }

  #emit(record: MachineRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch (err) {
        this.#opts.logger.error({ err: String(err) }, 'machine change listener failed');
      }
    }
  }

  #watchExit(id: string): void {
    if (this.#watches.has(id)) return;
    this.#watches.set(
      id,
      this.#opts.runtime.driver.watch(id, (exit) => {
        this.#onExit(id, exit).catch((err: unknown) => {
          this.#opts.logger.error({ machine: id, err: String(err) }, 'handling an exit failed');
        });
      }),
    );
  }

  #unwatch(id: string): void {
    this.#watches.get(id)?.();
    this.#watches.delete(id);
  }

  /** An exit nobody asked for: record it with the log tail, then apply the restart policy. */
  async #onExit(id: string, reported: ExitInfo): Promise<void> {
    let exit = reported;
    if (this.#engine.depth(id) > 0) {
      // An operation owns the machine right now (a launch still recording 'started', a stop, an
      // update replacing the instance). Look again when it is done: the exit reported may be
      // the instance the operation stopped, so what counts is the instance there now.
      await this.#engine.idle(id);
      const status = await this.#opts.runtime.driver.status(id);
      if (status.state !== 'exited') return;
      exit = status.exit;
    }
    const logTail = await readLogTail(logPathOf(this.#machinesDir, id), logTailLinesOnFailure);
    // From here to the save nothing awaits: a stop requested meanwhile, or a second report of
    // the same exit, is seen by this check rather than overwritten.
    const record = this.store.getMachine(id);
    if (record === undefined || record.stopRequested || record.state !== 'started') return;
    const { policy, max_retries } = record.config.restart;
    const failed = exit.exitCode !== 0 || exit.signal !== null;
    const restarting = policy === 'always' || (policy === 'on-failure' && failed && record.restartCount < (max_retries ?? defaultMaxRetries));
    const next = withEvent(
      { ...record, state: 'stopped', lastExit: exit, desired: restarting ? 'started' : 'stopped', restartCount: record.restartCount + (restarting ? 1 : 0) },
      this.#opts.clock.now(),
      'exit',
      failed ? 'failed' : 'stopped',
      'flyd',
      {
        exit_event: {
          exit_code: exit.exitCode,
          oom_killed: exit.oomKilled,
          requested_stop: false,
          restarting,
          signal: exit.signal ?? -1,
          exited_at: new Date(exit.exitedAt).toISOString(),
        },
        restart_count: record.restartCount,
        log_tail: logTail,
      },
    );
    this.#opts.logger.info({ machine: id, exit_code: exit.exitCode, signal: exit.signal, restarting }, 'machine exited');
    this.#save(next);
    if (restarting) this.#engine.submit('autorestart', id);
  }

  async #reconcile(record: MachineRecord): Promise<void> {
    const status = await this.#opts.runtime.driver.status(record.id);
    if (record.desired === 'destroyed') {
      if (record.state !== 'destroyed') this.#engine.submit('destroy', record.id, { signal: 'SIGKILL', timeoutMs: 0 });
      return;
    }
    if (record.desired === 'started') {
      if (record.state === 'started' && (status.state === 'running' || status.state === 'exited')) {
        this.#watchExit(record.id); // an exit that happened while we were down is reported now
      } else {
        this.#engine.submit('start', record.id);
      }
      return;
    }
    if (status.state === 'running') {
      this.#save({ ...record, stopRequested: true });
      this.#engine.submit('stop', record.id);
    } else if (record.state !== 'stopped' && record.state !== 'created' && record.state !== 'failed') {
      this.#save({ ...record, state: 'stopped' });
    }
  }
}
