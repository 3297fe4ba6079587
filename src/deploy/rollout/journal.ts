/**
 * Everything a deploy has changed so far, across all of its process groups, so that a failure
 * in any group undoes the whole release, not only the group that failed. Destroying machines
 * the release no longer needs (those it replaced, bluegreen's old set) waits until every group
 * has succeeded: until then they are what a rollback returns to.
 */
import type { Machine, MachineConfigInput } from '../../lib/index.ts';
import type { RollbackReport } from './errors.ts';
import { eventIds, waitHealthy } from './health.ts';
import type { DeployProgress, DeployTarget } from './target.ts';

/**
 * - updated: changed in place; a rollback puts its previous config back.
 * - created: a machine of the new release (a group's first, a canary, bluegreen's new set, a
 *   replacement); a rollback destroys it.
 * - cordoned: an old machine taken out of routing when the new set took the traffic; a rollback
 *   puts it back into routing.
 */
export type Change = { kind: 'updated'; machine: Machine; previous: MachineConfigInput } | { kind: 'created'; machine: Machine } | { kind: 'cordoned'; machine: Machine };

export interface JournalContext {
  target: DeployTarget;
  app: string;
  waitTimeoutMs: number;
  progress: DeployProgress;
}

export class DeployJournal {
  /** By machine: a deploy changes each machine once. */
  readonly #changes = new Map<string, Change>();
  readonly #retiring = new Map<string, Machine>();

  /** Recorded before the call that makes the change: one that fails half-way is still undone. */
  record(change: Change): void {
    this.#changes.set(change.machine.id, change);
  }

  /** The change to the machine did not happen, or was undone on purpose (a canary destroyed once it proved healthy). */
  forget(machineId: string): void {
    this.#changes.delete(machineId);
  }

  /** `machine` is destroyed once the whole deploy has succeeded, and kept if it fails. */
  retireOnSuccess(machine: Machine): void {
    this.#retiring.set(machine.id, machine);
  }

  /**
   * Undoes every change. Old machines go back into routing first, so traffic has somewhere to
   * go before the new ones are destroyed; the rest run in parallel.
   */
  async undo(ctx: JournalContext): Promise<RollbackReport[]> {
    const changes = [...this.#changes.values()];
    this.#changes.clear();
    this.#retiring.clear();
    const first = await Promise.all(changes.filter((c) => c.kind === 'cordoned').map((c) => undoOne(ctx, c)));
    const rest = await Promise.all(changes.filter((c) => c.kind !== 'cordoned').map((c) => undoOne(ctx, c)));
    return [...first, ...rest];
  }

  /** The deploy succeeded: destroys the machines it retired. */
  async commit(ctx: JournalContext): Promise<void> {
    const retiring = [...this.#retiring.values()];
    this.#retiring.clear();
    this.#changes.clear();
    for (const machine of retiring) await destroyQuietly(ctx, machine.id);
  }
}

async function undoOne(ctx: JournalContext, change: Change): Promise<RollbackReport> {
  const { machine } = change;
  try {
    if (change.kind === 'created') {
      await ctx.target.destroyMachine(ctx.app, machine.id);
      return { machine: machine.id, ok: true, action: 'destroyed' };
    }
    ctx.progress({ step: 'rollback', machine: machine.id, message: `rolling ${machine.id} back` });
    if (change.kind === 'cordoned') {
      await ctx.target.uncordon(ctx.app, machine.id);
      return { machine: machine.id, ok: true, action: 'restored' };
    }
    const asleep = isAsleep(machine);
    const current = await ctx.target.getMachine(ctx.app, machine.id);
    await ctx.target.updateMachine(ctx.app, machine.id, change.previous, { skipLaunch: asleep });
    if (!asleep) await waitHealthy(ctx.target, ctx.app, machine.id, { timeoutMs: ctx.waitTimeoutMs, knownEvents: eventIds(current), previousInstance: current.instance_id });
    return { machine: machine.id, ok: true, action: 'restored' };
  } catch (err) {
    return { machine: machine.id, ok: false, action: change.kind === 'created' ? 'destroyed' : 'restored', error: err instanceof Error ? err.message : String(err) };
  }
}

/** A machine stopped on purpose (scaled to zero): a release reaches it when it next starts. */
export function isAsleep(machine: Machine): boolean {
  return machine.state === 'stopped';
}

/** Destroys a machine the deploy no longer needs; a failure is reported, not thrown. True when it is gone. */
export async function destroyQuietly(ctx: JournalContext, id: string): Promise<boolean> {
  try {
    await ctx.target.destroyMachine(ctx.app, id);
    return true;
  } catch (err) {
    ctx.progress({ step: 'cleanup', machine: id, message: `could not destroy ${id}: ${err instanceof Error ? err.message : String(err)}; destroy it with: aloft machine destroy ${id} -a ${ctx.app} --force` });
    return false;
  }
}
