/**
 * The machine lifecycle as durable operations. Each step reads the machine's record afresh,
 * does one idempotent thing to the host, and writes the record; the engine logs the step before
 * it runs, so a killed agent resumes exactly here and repeating a step is harmless.
 */
import { join } from 'node:path';
import { asAloftError, durationToMs, randomHex, sleep, ValidationError, type Clock } from '../lib/index.ts';
import type { OperationDefinition, OperationRecord, Step } from './fsm/index.ts';
import { withEvent } from './events.ts';
import type { HostRuntime } from './host-runtime.ts';
import { readLogTail } from './logs.ts';
import { resolveProcess } from './process-spec.ts';
import type { MachineRecord } from './record.ts';
import type { AppSecrets, AppSecretsSource } from './secrets.ts';
import type { InstanceSpec } from './runtime/driver.ts';
import type { AgentStore } from './store.ts';

export const pidsMaxDefault = 1024;
export const stopTimeoutDefaultMs = 10_000;
export const logTailLinesOnFailure = 20;
/** Restart back-off after an exit doubles from this, up to restartBackoffMaxMs. */
export const restartBackoffBaseMs = 100;
export const restartBackoffMaxMs = 10_000;

export interface StepDeps {
  store: AgentStore;
  runtime: HostRuntime;
  clock: Clock;
  machinesDir: string;
  /** Called after every record write so watchers (wait, publishers) see the change. */
  changed(record: MachineRecord): void;
  /** Begins watching the running instance for exits. */
  watchExit(machineId: string): void;
  /** The app's secrets, read when an instance is prepared. */
  secrets: AppSecretsSource;
}

export function logPathOf(machinesDir: string, machineId: string): string {
  return join(machinesDir, machineId, 'log');
}

export function machineOperations(deps: StepDeps): OperationDefinition[] {
  const { store, runtime, clock } = deps;

  function load(op: OperationRecord): MachineRecord {
    const record = store.getMachine(op.subject);
    if (record === undefined) throw new Error(`machine ${op.subject} has no record`);
    return record;
  }

  function save(record: MachineRecord): MachineRecord {
    const next = { ...record, updatedAt: clock.now() };
    store.putMachine(next);
    deps.changed(next);
    return next;
  }

  /**
   * A step computes its result from the record as it was when the step began; the service may
   * have written the record meanwhile (a lease taken, a stop requested). Only the fields the
   * step changed are written over the latest record, so neither side loses the other's write.
   */
  function saveChanges(before: MachineRecord, after: MachineRecord, op: OperationRecord): void {
    const latest: Record<string, unknown> = { ...load(op) };
    const b = before as unknown as Record<string, unknown>;
    const a = after as unknown as Record<string, unknown>;
    for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
      if (b[key] === a[key]) continue;
      if (a[key] === undefined) delete latest[key];
      else latest[key] = a[key];
    }
    save(latest as unknown as MachineRecord);
  }

  function step(name: string, run: (record: MachineRecord, op: OperationRecord, signal: AbortSignal) => Promise<MachineRecord | void>): Step {
    return {
      name,
      async run({ op, signal }) {
        const before = load(op);
        const out = await run(before, op, signal);
        if (out !== undefined) saveChanges(before, out, op);
      },
    };
  }

  async function instanceSpec(record: MachineRecord, rootfsPath: string, secrets: AppSecrets): Promise<InstanceSpec> {
    const image = record.image;
    const network = record.network;
    if (image === undefined || network === undefined) throw new Error(`machine ${record.id} has no image or network yet`);
    const process = await resolveProcess(record.config, image.config, rootfsPath, {
      id: record.id,
      app: record.app,
      region: record.region,
      privateIp: network.ipv6,
      imageRef: record.config.image,
      instanceId: record.instanceId,
    }, secrets.values);
    const spec: InstanceSpec = {
      machineId: record.id,
      instanceId: record.instanceId,
      rootfsPath,
      process,
      limits: { cpus: record.config.guest.cpus, memoryMb: record.config.guest.memory_mb, pidsMax: pidsMaxDefault },
      hostname: record.id,
      logPath: logPathOf(deps.machinesDir, record.id),
      mounts: [],
      files: record.config.files.flatMap((f) => {
        // As on Fly, a file's content is base64: given inline, or held in a secret of that name.
        const content = f.raw_value ?? (f.secret_name === undefined ? undefined : secrets.values[f.secret_name]);
        if (content === undefined) {
          if (f.secret_name === undefined) return [];
          throw new ValidationError(`file ${f.guest_path} comes from secret '${f.secret_name}', which app ${record.app} does not have`, {
            field: 'config.files',
            hint: `set it: aloft secrets set ${f.secret_name}=$(base64 -w0 FILE) -a ${record.app}`,
          });
        }
        return [{ guestPath: f.guest_path, content: Buffer.from(content, 'base64'), mode: f.mode ?? 0o644 }];
      }),
    };
    if (network.netnsPath !== undefined) spec.netnsPath = network.netnsPath;
    return spec;
  }

  const pullImage = step('pull_image', async (record) => {
    const image = await runtime.images.pull(record.pendingConfig?.image ?? record.config.image);
    return { ...record, image };
  });

  const attachNetwork = step('attach_network', async (record) => {
    const network = await runtime.networking.attach(record.id, record.orgNum);
    return { ...record, network };
  });

  /** A fresh root filesystem and instance: the machine's disk is reset on every start, as on Fly. */
  const prepareInstance = step('prepare_instance', async (record) => {
    if (record.image === undefined) throw new Error(`machine ${record.id} has no image`);
    await runtime.driver.destroy(record.id);
    await runtime.images.releaseRootfs(record.id);
    const rootfs = await runtime.images.prepareRootfs(record.id, record.image);
    const secrets = deps.secrets.get(record.appId);
    await runtime.driver.prepare(await instanceSpec(record, rootfs, secrets));
    return { ...record, secretsVersion: secrets.version };
  });

  /**
   * Starts reuse the instance a stop prepared right after the machine went down (a fresh root
   * filesystem and bundle), so a start is only the launch itself.
   */
  const prepareIfNeeded: Step = {
    name: 'prepare_if_needed',
    async run(ctx) {
      const state = (await runtime.driver.status(ctx.op.subject)).state;
      if (state === 'running') return;
      // An instance prepared before the app's secrets changed would start with the old values.
      const record = load(ctx.op);
      if (state === 'created' && (record.secretsVersion ?? 0) === deps.secrets.get(record.appId).version) return;
      await prepareInstance.run(ctx);
    },
  };

  /** Records 'starting' before it starts the process, so a crash in between is visible and resumed. */
  const launch: Step = {
    name: 'launch',
    async run({ op }) {
      const record = load(op);
      if (record.desired !== 'started') {
        saveChanges(record, { ...record, state: 'stopped' }, op);
        return;
      }
      const starting: MachineRecord = { ...record, state: 'starting' };
      saveChanges(record, starting, op);
      await runtime.driver.start(record.id);
      deps.watchExit(record.id);
      const started = withEvent({ ...starting, state: 'started', stopRequested: false }, clock.now(), 'start', 'started', 'flyd');
      saveChanges(starting, started, op);
    },
  };

  const stopInstance = step('stop_instance', async (record, op) => {
    const status = await runtime.driver.status(record.id);
    if (status.state !== 'running') return { ...record, state: settledAfterStop(record, op) };
    const signal = (op.input.signal as NodeJS.Signals | undefined) ?? record.config.stop_config?.signal ?? 'SIGTERM';
    const timeoutMs = (op.input.timeoutMs as number | undefined) ?? durationToMs(record.config.stop_config?.timeout, stopTimeoutDefaultMs);
    const exit = await runtime.driver.stop(record.id, signal as NodeJS.Signals, timeoutMs);
    let next: MachineRecord = record;
    if (exit !== null) {
      next = withEvent({ ...record, lastExit: exit }, clock.now(), 'exit', 'stopped', 'flyd', {
        exit_event: {
          exit_code: exit.exitCode,
          oom_killed: exit.oomKilled,
          requested_stop: true,
          restarting: op.kind === 'restart',
          signal: exit.signal ?? -1,
          exited_at: new Date(exit.exitedAt).toISOString(),
        },
      });
    }
    return { ...next, state: settledAfterStop(next, op) };
  });

  /** A plain stop reports 'stopped' only once the next instance is prepared, so a start right after it is quick. */
  const markStopped = step('mark_stopped', async (record) => (record.state === 'stopping' ? { ...record, state: 'stopped' } : undefined));

  const backoff = step('backoff', async (record, _op, signal) => {
    const delayMs = Math.min(restartBackoffBaseMs * 2 ** Math.max(0, record.restartCount - 1), restartBackoffMaxMs);
    await sleep(delayMs, signal);
  });

  const destroyInstance = step('destroy_instance', async (record) => {
    await runtime.driver.destroy(record.id);
    await runtime.images.releaseRootfs(record.id);
  });

  const detachNetwork = step('detach_network', async (record) => {
    await runtime.networking.detach(record.id);
  });

  const commitConfig = step('commit_config', async (record) => {
    if (record.pendingConfig === undefined) return; // already committed before a crash
    const { pendingConfig, ...rest } = record;
    const next: MachineRecord = { ...rest, config: pendingConfig, instanceId: newInstanceId() };
    return withEvent(next, clock.now(), 'update', 'replaced', 'user');
  });

  const markDestroyed = step('mark_destroyed', async (record) => {
    const next: MachineRecord = { ...record, state: 'destroyed', desired: 'destroyed' };
    delete next.lease;
    return withEvent(next, clock.now(), 'destroy', 'destroyed', 'user');
  });

  /** When a step fails, the machine says so with the reason, instead of hanging in a transient state. */
  function failWith(kind: string): OperationDefinition['onFailure'] {
    return async (op, error) => {
      const record = store.getMachine(op.subject);
      if (record === undefined) return;
      const e = asAloftError(error);
      const logTail = await readLogTail(logPathOf(deps.machinesDir, record.id), logTailLinesOnFailure);
      const state = kind === 'destroy' ? record.state : 'failed';
      save(
        withEvent({ ...record, state }, clock.now(), 'failed', `${kind}_failed`, 'flyd', {
          error: { code: e.code, fault: e.fault, message: e.message },
          log_tail: logTail,
        }),
      );
    };
  }

  return [
    { kind: 'create', steps: [pullImage, attachNetwork, prepareInstance, launch], onFailure: failWith('create') },
    { kind: 'start', steps: [prepareIfNeeded, launch], onFailure: failWith('start') },
    { kind: 'stop', steps: [stopInstance, prepareInstance, markStopped], onFailure: failWith('stop') },
    { kind: 'restart', steps: [stopInstance, prepareInstance, launch], onFailure: failWith('restart') },
    { kind: 'autorestart', steps: [backoff, prepareInstance, launch], onFailure: failWith('restart') },
    {
      kind: 'update',
      steps: [stopInstance, destroyInstance, pullImage, commitConfig, prepareInstance, launch],
      onFailure: failWith('update'),
    },
    { kind: 'destroy', steps: [stopInstance, destroyInstance, detachNetwork, markDestroyed], onFailure: failWith('destroy') },
  ];
}

/** The state a stop leaves: destroy and update keep theirs; a plain stop is 'stopping' until its last step. */
function settledAfterStop(record: MachineRecord, op: OperationRecord): MachineRecord['state'] {
  if (record.state === 'destroying' || record.state === 'replacing') return record.state;
  return op.kind === 'stop' ? 'stopping' : 'stopped';
}

export function newInstanceId(): string {
  return randomHex(13).toUpperCase().slice(0, 26);
}
