/**
 * The four ways a release reaches a process group's machines. Each either finishes with every
 * machine healthy on the new config, or undoes its own changes and throws a DeployError that
 * says why and what the rollback did.
 *
 * - rolling: in-place updates, `max_unavailable` machines at a time, each batch healthy first.
 * - immediate: every machine updated at once; each must run its new instance, checks are not awaited.
 * - canary: one extra machine on the new config must be healthy before the rolling update.
 * - bluegreen: a full new set starts out of routing; when all are healthy they take the
 *   traffic and the old set is destroyed.
 */
import { AloftError, type Machine, type MachineConfigInput } from '../../lib/index.ts';
import type { DeployStrategy } from '../config/schema.ts';
import { DeployError, deployErrorFrom, type RollbackReport } from './errors.ts';
import { eventIds, waitHealthy } from './health.ts';
import type { DeployProgress, DeployTarget } from './target.ts';

export interface RolloutContext {
  target: DeployTarget;
  app: string;
  waitTimeoutMs: number;
  /** A fraction of the group (0.33) or a number of machines (2). */
  maxUnavailable: number;
  progress: DeployProgress;
}

export interface GroupPlan {
  group: string;
  config: MachineConfigInput;
  /** The group's machines before the deploy that run an older config. */
  machines: Machine[];
}

export type Strategy = (ctx: RolloutContext, plan: GroupPlan) => Promise<void>;

export const strategies: Record<DeployStrategy, Strategy> = { rolling, immediate, canary, bluegreen };

/** How many machines a rolling batch updates at once: at least one. */
export function batchSize(maxUnavailable: number, machines: number): number {
  const n = maxUnavailable < 1 ? Math.ceil(machines * maxUnavailable) : Math.floor(maxUnavailable);
  return Math.max(1, Math.min(n, machines));
}

/**
 * What a strategy changed, so a failure can undo it: a machine updated in place (back to its
 * previous config), or one replaced because its host could not take the new size (the
 * replacement is destroyed; the old machine is kept running until the group has succeeded).
 */
type Change = { kind: 'updated'; machine: Machine; previous: MachineConfigInput } | { kind: 'replaced'; old: Machine; replacement: Machine };

async function rolling(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const changes: Change[] = [];
  const size = batchSize(ctx.maxUnavailable, plan.machines.length);
  for (let i = 0; i < plan.machines.length; i += size) {
    const batch = plan.machines.slice(i, i + size);
    try {
      await settleAll(batch.map((machine) => updateAndWait(ctx, plan, machine, changes, true)));
    } catch (err) {
      throw deployErrorFrom(err, `updating ${plan.group} machines`).withRollback(await rollBack(ctx, changes));
    }
  }
  await retireReplaced(ctx, changes);
}

async function immediate(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const changes: Change[] = [];
  try {
    await settleAll(plan.machines.map((machine) => updateAndWait(ctx, plan, machine, changes, false)));
  } catch (err) {
    throw deployErrorFrom(err, `updating ${plan.group} machines`).withRollback(await rollBack(ctx, changes));
  }
  await retireReplaced(ctx, changes);
}

async function canary(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const first = plan.machines[0];
  if (first === undefined) return;
  ctx.progress({ step: 'canary', group: plan.group, message: `starting a canary ${plan.group} machine in ${first.region}` });
  const created: Machine[] = [];
  try {
    await createAndWait(ctx, plan, first.region, false, created);
  } catch (err) {
    throw deployErrorFrom(err, `the canary ${plan.group} machine`).withRollback(await Promise.all(created.map((m) => destroyReport(ctx, m.id))));
  }
  await destroyQuietly(ctx, created[0]!.id);
  ctx.progress({ step: 'canary', group: plan.group, machine: created[0]!.id, message: 'canary healthy; updating the rest' });
  await rolling(ctx, plan);
}

async function bluegreen(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const hasCheck = Object.keys(plan.config.checks ?? {}).length > 0 || (plan.config.services ?? []).some((s) => (s.checks ?? []).length > 0);
  if (!hasCheck) {
    throw new DeployError('config', `bluegreen deploys need a health check, and the ${plan.group} group has none`, {
      hint: 'add [[http_service.checks]] (or [checks.NAME]) to the config, or use strategy = "rolling"',
    });
  }
  const green: Machine[] = [];
  try {
    await settleAll(plan.machines.map((blue) => createAndWait(ctx, plan, blue.region, true, green)));
    for (const machine of green) await ctx.target.uncordon(ctx.app, machine.id);
  } catch (err) {
    const report = await Promise.all(green.map((m) => destroyReport(ctx, m.id)));
    throw deployErrorFrom(err, `starting the new ${plan.group} machines`).withRollback(report);
  }
  ctx.progress({ step: 'bluegreen', group: plan.group, message: `new machines healthy and routed; destroying ${plan.machines.length} old` });
  for (const blue of plan.machines) await destroyQuietly(ctx, blue.id);
}

/**
 * Waits for every promise, then throws the first failure: undoing changes while siblings are
 * still in flight would let a late update land after its rollback.
 */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
}

async function updateAndWait(ctx: RolloutContext, plan: GroupPlan, listed: Machine, changes: Change[], requireChecks: boolean): Promise<void> {
  ctx.progress({ step: 'update', group: plan.group, machine: listed.id, message: `updating ${listed.id}` });
  // Read now, not from the listing the deploy began with: a machine asleep then may be serving now.
  const machine = await ctx.target.getMachine(ctx.app, listed.id);
  const known = eventIds(machine);
  const asleep = isAsleep(machine);
  // Recorded before the call: an update that fails half-way must still be rolled back.
  const change: Change = { kind: 'updated', machine, previous: machine.config };
  changes.push(change);
  try {
    await ctx.target.updateMachine(ctx.app, machine.id, plan.config, { skipLaunch: asleep });
  } catch (err) {
    // The host cannot take the new size: the machine moves to one that can, if any.
    if (!(err instanceof AloftError && err.fault === 'capacity')) throw err;
    changes.splice(changes.indexOf(change), 1);
    await replace(ctx, plan, machine, changes);
    return;
  }
  // A machine stopped on purpose (scaled to zero) takes the release when it next starts.
  if (asleep) return;
  await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: known, previousInstance: machine.instance_id, requireChecks });
  ctx.progress({ step: 'healthy', group: plan.group, machine: machine.id, message: `${machine.id} healthy` });
}

/**
 * A machine its host cannot update in place is replaced by one on the new config, placed
 * wherever it fits in the region. The old machine keeps running until the whole group has
 * succeeded (retireReplaced), so a failure anywhere only has to destroy the replacement.
 */
async function replace(ctx: RolloutContext, plan: GroupPlan, machine: Machine, changes: Change[]): Promise<void> {
  ctx.progress({ step: 'replace', group: plan.group, machine: machine.id, message: `host ${machine.host_id} cannot take the new size; replacing ${machine.id} on another host` });
  const created: Machine[] = [];
  try {
    await createAndWait(ctx, plan, machine.region, false, created);
  } finally {
    for (const replacement of created) changes.push({ kind: 'replaced', old: machine, replacement });
  }
}

async function retireReplaced(ctx: RolloutContext, changes: Change[]): Promise<void> {
  for (const change of changes) if (change.kind === 'replaced') await destroyQuietly(ctx, change.old.id);
}

function isAsleep(machine: Machine): boolean {
  return machine.state === 'stopped';
}

/**
 * Creates a machine on the new config in `region` and waits until it is healthy. It is added
 * to `created` as soon as it exists, so a caller can clean up after a failure.
 */
export async function createAndWait(ctx: RolloutContext, plan: GroupPlan, region: string | undefined, outOfRouting: boolean, created: Machine[]): Promise<Machine> {
  const machine = await ctx.target.createMachine(ctx.app, { config: plan.config, ...(region === undefined ? {} : { region }), ...(outOfRouting ? { skip_service_registration: true } : {}) });
  created.push(machine);
  ctx.progress({ step: 'create', group: plan.group, machine: machine.id, message: `created ${machine.id} in ${machine.region}` });
  const healthy = await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: new Set() });
  ctx.progress({ step: 'healthy', group: plan.group, machine: machine.id, message: `${machine.id} healthy` });
  return healthy;
}

/**
 * Undoes each change: a machine updated in place goes back to its previous config (and, unless
 * it was asleep, must be healthy again); a replacement is destroyed, its old machine untouched.
 */
async function rollBack(ctx: RolloutContext, changes: Change[]): Promise<RollbackReport[]> {
  return Promise.all(
    changes.map(async (change) => {
      if (change.kind === 'replaced') return destroyReport(ctx, change.replacement.id);
      const { machine, previous } = change;
      ctx.progress({ step: 'rollback', machine: machine.id, message: `rolling ${machine.id} back` });
      try {
        const current = await ctx.target.getMachine(ctx.app, machine.id);
        await ctx.target.updateMachine(ctx.app, machine.id, previous, { skipLaunch: isAsleep(machine) });
        if (!isAsleep(machine)) {
          await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: eventIds(current), previousInstance: current.instance_id });
        }
        return { machine: machine.id, ok: true };
      } catch (err) {
        return { machine: machine.id, ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

async function destroyReport(ctx: RolloutContext, id: string): Promise<RollbackReport> {
  try {
    await ctx.target.destroyMachine(ctx.app, id);
    return { machine: id, ok: true };
  } catch (err) {
    return { machine: id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function destroyQuietly(ctx: RolloutContext, id: string): Promise<void> {
  const report = await destroyReport(ctx, id);
  if (!report.ok) ctx.progress({ step: 'cleanup', machine: id, message: `could not destroy ${id}: ${report.error}; destroy it with: aloft machine destroy ${id} -a ${ctx.app} --force` });
}
