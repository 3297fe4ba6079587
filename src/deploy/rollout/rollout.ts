/**
 * One release of an app reaching its machines: the release command first (a failing one stops
 * the deploy before any machine changes), then each process group by the app's strategy;
 * a group with no machines yet gets its first ones, and machines of groups the config no longer
 * has are destroyed once every group is healthy. A failure in any group rolls back what every
 * group changed, so an app never runs two releases after a failed deploy.
 */
import { parse as parseShellWords } from 'shell-quote';
import { durationToMs, machineConfigSchema, parseOrThrow, type Machine, type MachineConfigInput } from '../../lib/index.ts';
import { defaultProcessGroup, machineConfigFor, processGroups, type ReleaseRef } from '../config/machine-configs.ts';
import type { AppConfig, DeployStrategy } from '../config/schema.ts';
import { DeployError, deployErrorFrom } from './errors.ts';
import { waitExited } from './health.ts';
import { DeployJournal } from './journal.ts';
import { silentHostsRefusal } from './silent-hosts.ts';
import { createAndWait, strategies, type RolloutContext } from './strategies.ts';
import type { DeployProgress, DeployTarget } from './target.ts';

export const waitTimeoutDefaultMs = 120_000;
export const releaseCommandTimeoutDefaultMs = 300_000;

export interface RolloutOptions {
  target: DeployTarget;
  app: string;
  config: AppConfig;
  image: string;
  release: ReleaseRef;
  /** Overrides `[deploy] strategy`. */
  strategy?: DeployStrategy;
  /** Where a group's first machines go when the config has no primary_region; else the API's default region. */
  defaultRegion?: string;
  progress: DeployProgress;
}

export interface GroupOutcome {
  group: string;
  action: 'created' | 'updated' | 'unchanged' | 'removed';
  machines: string[];
}

export async function rollout(options: RolloutOptions): Promise<GroupOutcome[]> {
  const { target, app, config } = options;
  const ctx: RolloutContext = {
    target,
    app,
    waitTimeoutMs: durationToMs(config.deploy.wait_timeout, waitTimeoutDefaultMs),
    maxUnavailable: config.deploy.max_unavailable,
    progress: options.progress,
    journal: new DeployJournal(),
  };
  const [listed, secretsVersion] = await Promise.all([target.listMachines(app), target.secretsVersion(app)]).catch((err: unknown) => {
    throw deployErrorFrom(err, `reading the machines of ${app}`);
  });
  refuseSilentHosts(app, listed.filter(isLive));
  const byGroup = Map.groupBy(listed.filter(isLive), groupOf);
  const groups = processGroups(config);
  const plans = groups.map((group) => {
    const current = byGroup.get(group) ?? [];
    return { group, config: machineConfigFor(config, group, options.image, options.release, current[0]?.config.guest), current };
  });

  if (config.deploy.release_command !== undefined) await runReleaseCommand(ctx, options, plans[0]!.config);

  const strategy = strategies[options.strategy ?? config.deploy.strategy];
  const outcomes: GroupOutcome[] = [];
  try {
    for (const { group, config: machineConfig, current } of plans) {
      if (current.length === 0) {
        let first: Machine;
        try {
          first = await createAndWait(ctx, { group, config: machineConfig, machines: [] }, regionOf(options).region, false);
        } catch (err) {
          throw deployErrorFrom(err, `starting the first ${group} machine`);
        }
        outcomes.push({ group, action: 'created', machines: [first.id] });
        continue;
      }
      // A machine is stale when it runs another config, or secrets older than the app's (a change set with --stage).
      const stale = current.filter((m) => !sameConfig(m, machineConfig) || m.secrets_version < secretsVersion);
      if (stale.length > 0) await strategy(ctx, { group, config: machineConfig, machines: stale });
      outcomes.push({ group, action: stale.length === 0 ? 'unchanged' : 'updated', machines: [] });
    }
  } catch (err) {
    // One release: a failure in any group returns every group to the previous release.
    throw deployErrorFrom(err, 'deploying').withRollback(await ctx.journal.undo(ctx));
  }
  await ctx.journal.commit(ctx);
  for (const [group, machines] of byGroup) {
    if (groups.includes(group)) continue;
    options.progress({ step: 'remove', group, message: `the config has no '${group}' group any more: destroying its ${machines.length} machine(s)` });
    for (const machine of machines) await target.destroyMachine(app, machine.id);
    outcomes.push({ group, action: 'removed', machines: machines.map((m) => m.id) });
  }
  // Bluegreen and replacements change which machines a group has: report what runs now.
  const now = Map.groupBy((await target.listMachines(app)).filter(isLive), groupOf);
  for (const outcome of outcomes) if (outcome.action === 'updated' || outcome.action === 'unchanged') outcome.machines = (now.get(outcome.group) ?? []).map((m) => m.id);
  return outcomes;
}

/**
 * A machine whose host does not answer can be neither compared with the release nor updated, and
 * leaving it on the old one would split the app: the deploy stops before it changes anything.
 */
function refuseSilentHosts(app: string, machines: Machine[]): void {
  const refusal = silentHostsRefusal(app, machines, 'updated', 'deploy again');
  if (refusal !== undefined) throw new DeployError('platform', refusal.message, { hint: refusal.hint, details: refusal.details });
}

function isLive(machine: Machine): boolean {
  return machine.state !== 'destroyed' && machine.state !== 'destroying';
}

/** Runs the release command once in a temporary machine of the new image; non-zero stops the deploy. */
async function runReleaseCommand(ctx: RolloutContext, options: RolloutOptions, base: MachineConfigInput): Promise<void> {
  const command = options.config.deploy.release_command!;
  options.progress({ step: 'release_command', message: `running release command: ${command}` });
  const machine = await ctx.target.createMachine(ctx.app, {
    ...regionOf(options),
    config: {
      ...base,
      init: { ...base.init, cmd: releaseArgv(command) },
      env: { ...base.env, RELEASE_COMMAND: '1' },
      services: [],
      checks: {},
      restart: { policy: 'no' },
      metadata: { ...base.metadata, fly_process_group: 'fly_app_release_command' },
    },
  });
  try {
    const { exitCode, logTail } = await waitExited(ctx.target, ctx.app, machine.id, durationToMs(options.config.deploy.release_command_timeout, releaseCommandTimeoutDefaultMs));
    if (exitCode !== 0) {
      throw new DeployError('release_command_failed', `the release command '${command}' exited with code ${exitCode}; no machine was changed`, {
        hint: 'fix the command (it ran with RELEASE_COMMAND=1 in a machine of the new image) and deploy again',
        details: { machine: machine.id, exit_code: exitCode, log_tail: logTail },
      });
    }
  } finally {
    await ctx.target.destroyMachine(ctx.app, machine.id).catch(() => undefined);
  }
}

/**
 * The release command as argv: split into words when it is a plain command, so images without a
 * shell can run it; through `/bin/sh -c` only when it uses shell syntax (`&&`, pipes, `;`).
 */
function releaseArgv(command: string): string[] {
  const words = parseShellWords(command);
  return words.every((w): w is string => typeof w === 'string') && words.length > 0 ? words : ['/bin/sh', '-c', command];
}

function regionOf(options: RolloutOptions): { region?: string } {
  const region = options.config.primary_region ?? options.defaultRegion;
  return region === undefined ? {} : { region };
}

function groupOf(machine: Machine): string {
  return machine.config.metadata.fly_process_group ?? defaultProcessGroup;
}

/** Whether the machine already runs what the release asks for (defaults filled in on both sides). */
function sameConfig(machine: Machine, wanted: MachineConfigInput): boolean {
  const { metadata: a, ...runningRest } = machine.config;
  const { metadata: b, ...wantedRest } = parseOrThrow(machineConfigSchema, wanted, 'config');
  const withoutRelease = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'fly_release_id' && k !== 'fly_release_version'));
  return canonical({ ...runningRest, metadata: withoutRelease(a) }) === canonical({ ...wantedRest, metadata: withoutRelease(b) });
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y))) : v,
  );
}
