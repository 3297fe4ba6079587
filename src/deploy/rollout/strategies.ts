/**
 * The four ways a release reaches a process group's machines. Each either finishes with every
 * machine healthy on the new config, or throws a DeployError that says why. What they change is
 * recorded in the deploy's journal, which the rollout unwinds on a failure in any group.
 *
 * - rolling: in-place updates, `max_unavailable` machines at a time, each batch healthy first.
 * - immediate: every machine updated at once; each must run its new instance, checks are not awaited.
 * - canary: one extra machine on the new config must be healthy before the rolling update.
 * - bluegreen: a full new set starts out of routing; when all are healthy they take the
 *   traffic, and the old set, out of routing, is destroyed once the whole deploy has succeeded.
 */
import { AloftError, type Machine, type MachineConfigInput } from '../../lib/index.ts';
import type { DeployStrategy } from '../config/schema.ts';
import { DeployError, deployErrorFrom } from './errors.ts';
import { eventIds, waitHealthy } from './health.ts';
import { destroyQuietly, isAsleep, type DeployJournal } from './journal.ts';
import type { DeployProgress, DeployTarget } from './target.ts';

export interface RolloutContext {
  target: DeployTarget;
  app: string;
  waitTimeoutMs: number;
  /** A fraction of the group (0.33) or a number of machines (2). */
  maxUnavailable: number;
  progress: DeployProgress;
  journal: DeployJournal;
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

async function rolling(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const size = batchSize(ctx.maxUnavailable, plan.machines.length);
  for (let i = 0; i < plan.machines.length; i += size) {
    const batch = plan.machines.slice(i, i + size);
    try {
      await settleAll(batch.map((machine) => updateAndWait(ctx, plan, machine, true)));
    } catch (err) {
      throw deployErrorFrom(err, `updating ${plan.group} machines`);
    }
  }
}

async function immediate(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  try {
    await settleAll(plan.machines.map((machine) => updateAndWait(ctx, plan, machine, false)));
  } catch (err) {
    throw deployErrorFrom(err, `updating ${plan.group} machines`);
  }
}

async function canary(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const first = plan.machines[0];
  if (first === undefined) return;
  ctx.progress({ step: 'canary', group: plan.group, message: `starting a canary ${plan.group} machine in ${first.region}` });
  let canaryMachine: Machine;
  try {
    canaryMachine = await createAndWait(ctx, plan, first.region, false);
  } catch (err) {
    throw deployErrorFrom(err, `the canary ${plan.group} machine`);
  }
  // Kept in the journal until it is gone: a canary that outlives a later failure is rolled back with the rest.
  if (await destroyQuietly(ctx, canaryMachine.id)) ctx.journal.forget(canaryMachine.id);
  ctx.progress({ step: 'canary', group: plan.group, machine: canaryMachine.id, message: 'canary healthy; updating the rest' });
  await rolling(ctx, plan);
}

async function bluegreen(ctx: RolloutContext, plan: GroupPlan): Promise<void> {
  const hasCheck = Object.keys(plan.config.checks ?? {}).length > 0 || (plan.config.services ?? []).some((s) => (s.checks ?? []).length > 0);
  if (!hasCheck) {
    throw new DeployError('config', `bluegreen deploys need a health check, and the ${plan.group} group has none`, {
      hint: 'add [[http_service.checks]] (or [checks.NAME]) to the config, or use strategy = "rolling"',
    });
  }
  try {
    const green = await settleAll(plan.machines.map((blue) => createAndWait(ctx, plan, blue.region, true)));
    for (const machine of green) await ctx.target.uncordon(ctx.app, machine.id);
    for (const blue of plan.machines) {
      ctx.journal.retireOnSuccess(blue);
      if (blue.cordoned === true) continue;
      ctx.journal.record({ kind: 'cordoned', machine: blue });
      await ctx.target.cordon(ctx.app, blue.id);
    }
  } catch (err) {
    throw deployErrorFrom(err, `starting the new ${plan.group} machines`);
  }
  ctx.progress({ step: 'bluegreen', group: plan.group, message: `new machines healthy and routed; the ${plan.machines.length} old ones are out of routing and go when the deploy succeeds` });
}

/**
 * Waits for every promise, then throws the first failure: undoing changes while siblings are
 * still in flight would let a late update land after its rollback.
 */
async function settleAll<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function updateAndWait(ctx: RolloutContext, plan: GroupPlan, listed: Machine, requireChecks: boolean): Promise<void> {
  ctx.progress({ step: 'update', group: plan.group, machine: listed.id, message: `updating ${listed.id}` });
  // Read now, not from the listing the deploy began with: a machine asleep then may be serving now.
  const machine = await ctx.target.getMachine(ctx.app, listed.id);
  const known = eventIds(machine);
  const asleep = isAsleep(machine);
  ctx.journal.record({ kind: 'updated', machine, previous: machine.config });
  try {
    await ctx.target.updateMachine(ctx.app, machine.id, plan.config, { skipLaunch: asleep });
  } catch (err) {
    // The host cannot take the new size: the machine moves to one that can, if any.
    if (!(err instanceof AloftError && err.fault === 'capacity')) throw err;
    ctx.journal.forget(machine.id);
    await replace(ctx, plan, machine);
    return;
  }
  if (asleep) return;
  await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: known, previousInstance: machine.instance_id, requireChecks });
  ctx.progress({ step: 'healthy', group: plan.group, machine: machine.id, message: `${machine.id} healthy` });
}

/**
 * A machine its host cannot update in place is replaced by one on the new config, placed
 * wherever it fits in the region. The old machine keeps running until the whole deploy has
 * succeeded, so a failure anywhere only has to destroy the replacement.
 */
async function replace(ctx: RolloutContext, plan: GroupPlan, machine: Machine): Promise<void> {
  ctx.progress({ step: 'replace', group: plan.group, machine: machine.id, message: `host ${machine.host_id} cannot take the new size; replacing ${machine.id} on another host` });
  await createAndWait(ctx, plan, machine.region, false);
  ctx.journal.retireOnSuccess(machine);
}

/**
 * Creates a machine on the new config in `region` and waits until it is healthy. It is in the
 * journal as soon as it exists, so a failure anywhere destroys it.
 */
export async function createAndWait(ctx: RolloutContext, plan: GroupPlan, region: string | undefined, outOfRouting: boolean): Promise<Machine> {
  const machine = await ctx.target.createMachine(ctx.app, { config: plan.config, ...(region === undefined ? {} : { region }), ...(outOfRouting ? { skip_service_registration: true } : {}) });
  ctx.journal.record({ kind: 'created', machine });
  ctx.progress({ step: 'create', group: plan.group, machine: machine.id, message: `created ${machine.id} in ${machine.region}` });
  const healthy = await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: new Set() });
  ctx.progress({ step: 'healthy', group: plan.group, machine: machine.id, message: `${machine.id} healthy` });
  return healthy;
}
