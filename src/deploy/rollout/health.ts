/**
 * Waiting for a machine of a new release to be healthy, and saying exactly why it is not: it
 * crashed (exit code and last log lines), a check failed (which one and its output), a step of
 * the platform failed (which host), or time ran out (in which state).
 */
import { explainMachineEvents, sleep, type Machine } from '../../lib/index.ts';
import { DeployError, failureOf } from './errors.ts';
import type { DeployTarget } from './target.ts';

/** How often a deploy looks at the machines it is waiting for. */
export const healthPollMs = 250;
/** A started machine must stay up this long, with its checks passing, to count as healthy. */
export const settleMs = 1_000;

export interface WaitOptions {
  timeoutMs: number;
  /** Event ids seen before the change: only newer events can fail or satisfy the wait. */
  knownEvents: ReadonlySet<string>;
  /** The instance the change replaced, if any: a healthy machine must run a newer one. */
  previousInstance?: string;
  /** False for the immediate strategy: running the new instance is enough. */
  requireChecks?: boolean;
}

export function eventIds(machine: Machine): Set<string> {
  return new Set(machine.events.map((e) => e.id));
}

/** Resolves when the machine runs a new instance with every check passing, for `settleMs`. */
export async function waitHealthy(target: DeployTarget, app: string, machineId: string, options: WaitOptions): Promise<Machine> {
  const deadline = performance.now() + options.timeoutMs;
  let healthySince: number | undefined;
  let last: Machine | undefined;
  for (;;) {
    last = await target.getMachine(app, machineId);
    const problem = explainMachineEvents(last, options.knownEvents);
    if (problem !== undefined) {
      throw new DeployError(failureOf(problem.fault), problem.message, {
        hint: problem.hint ?? 'see the machine status',
        details: { ...problem.details, machine: machineId, host: last.host_id },
      });
    }
    const healthy = isRunningNewInstance(last, options) && (options.requireChecks === false || checksPassing(last));
    const now = performance.now();
    if (!healthy) healthySince = undefined;
    else if (healthySince === undefined) healthySince = now;
    else if (now - healthySince >= settleMs) return last;
    if (now > deadline) throw notHealthyInTime(last, options.timeoutMs);
    await sleep(healthPollMs);
  }
}

/** Resolves with the exit of a one-off machine (the release command), or fails on timeout. */
export async function waitExited(target: DeployTarget, app: string, machineId: string, timeoutMs: number): Promise<{ exitCode: number; logTail: string[] }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const machine = await target.getMachine(app, machineId);
    const exit = machine.events.find((e) => e.type === 'exit');
    if (exit?.request?.exit_event !== undefined) return { exitCode: exit.request.exit_event.exit_code, logTail: exit.request.log_tail ?? [] };
    const failed = machine.events.find((e) => e.type === 'failed');
    if (failed !== undefined) {
      const problem = explainMachineEvents(machine, new Set())!;
      throw new DeployError(problem.fault === 'app' ? 'release_command_failed' : failureOf(problem.fault), `release command machine: ${problem.message}`, { hint: problem.hint ?? '', details: problem.details });
    }
    if (performance.now() > deadline) {
      throw new DeployError('release_command_failed', `the release command did not finish within ${Math.round(timeoutMs / 1000)}s`, {
        hint: 'make it faster, or raise [deploy] release_command_timeout',
        details: { machine: machineId },
      });
    }
    await sleep(healthPollMs);
  }
}

/**
 * The checks have reported and all pass. The agent reports every check it runs at once (as
 * `warning` until the first probe), so an empty list while the config declares checks means
 * "not reported yet", never "nothing to pass".
 */
function checksPassing(machine: Machine): boolean {
  const declared = Object.keys(machine.config.checks).length + machine.config.services.reduce((n, s) => n + (s.checks?.length ?? 0), 0);
  if (declared > 0 && machine.checks.length === 0) return false;
  return machine.checks.every((c) => c.status === 'passing');
}

function isRunningNewInstance(machine: Machine, options: WaitOptions): boolean {
  if (machine.state !== 'started') return false;
  if (options.previousInstance !== undefined && machine.instance_id === options.previousInstance) return false;
  return machine.events.some((e) => e.type === 'start' && !options.knownEvents.has(e.id));
}

function notHealthyInTime(machine: Machine, timeoutMs: number): DeployError {
  const seconds = Math.round(timeoutMs / 1000);
  const failing = machine.checks.filter((c) => c.status !== 'passing');
  if (machine.state === 'started' && failing.length > 0) {
    const first = failing[0]!;
    return new DeployError('health_check_failed', `machine ${machine.id} runs, but check '${first.name}' is ${first.status} after ${seconds}s: ${first.output.trim().slice(0, 300) || '(no output)'}`, {
      hint: `the app answers its health check wrongly or not at all; check the path and port in the config, or see: aloft machine status ${machine.id} -a ${machine.app_name}`,
      details: { machine: machine.id, checks: failing },
    });
  }
  return new DeployError('platform', `machine ${machine.id} did not become healthy within ${seconds}s (it is ${machine.state} on host ${machine.host_id})`, {
    hint: 'raise [deploy] wait_timeout if the app starts slowly; otherwise the host may be overloaded — see aloft machine status',
    details: { machine: machine.id, host: machine.host_id, state: machine.state },
  });
}
