/**
 * After a start, say plainly what happened: started and still running, or exited (with its exit
 * code and last log lines — the app's fault), or failed in a platform step (ours, named).
 */
import { AloftError, sleep, type Machine, type MachineEvent } from '../lib/index.ts';
import type { ApiClient } from './api-client.ts';

/** How long a machine must stay up after starting before the CLI calls it started. */
export const settleMs = 1_500;
export const startTimeoutS = 60;

/** How often the CLI looks at a starting machine. */
export const pollIntervalMs = 200;

/**
 * Waits for a start that happened after `before` was read: a new `start` event with the machine
 * started, then `settleMs` more without a new exit. Events already in `before` never count, so an
 * old crash is not reported as new and a restart is not reported before it happened.
 */
export async function waitUntilRunning(client: ApiClient, app: string, before: Machine): Promise<Machine> {
  const known = new Set(before.events.map((e) => e.id));
  const deadline = performance.now() + startTimeoutS * 1000;
  for (;;) {
    const current = await client.getMachine(app, before.id);
    const problem = explain(current, known);
    if (problem !== undefined) throw problem;
    const startedAgain = current.events.some((e) => e.type === 'start' && !known.has(e.id));
    if (current.state === 'started' && startedAgain) break;
    if (performance.now() > deadline) {
      throw new AloftError('timeout', 'platform', `machine ${before.id} did not start within ${startTimeoutS}s (it is ${current.state})`, {
        status: 408,
        hint: `see what it is doing: aloft machine status ${before.id} -a ${app}`,
      });
    }
    await sleep(pollIntervalMs);
  }
  await sleep(settleMs);
  const settled = await client.getMachine(app, before.id);
  const problem = explain(settled, known);
  if (problem !== undefined) throw problem;
  return settled;
}

/** The reason the machine is not running, from the events not in `known`. */
export function explain(machine: Machine, known: ReadonlySet<string>): AloftError | undefined {
  const recent = machine.events.filter((e) => !known.has(e.id));
  const failed = recent.find((e) => e.type === 'failed');
  if (failed !== undefined) return failedStep(machine, failed);
  const exit = recent.find((e) => e.type === 'exit' && e.request?.exit_event?.requested_stop === false);
  if (exit === undefined) return undefined;
  const ev = exit.request!.exit_event!;
  const how = ev.signal > 0 ? `was killed by signal ${ev.signal}` : `exited with code ${ev.exit_code}`;
  const oom = ev.oom_killed ? ' (out of memory: raise --memory)' : '';
  const restarting = ev.restarting ? '; it is being restarted by its restart policy' : '';
  return new AloftError('machine_exited', 'app', `machine ${machine.id} ${how} right after starting${oom}${restarting}`, {
    details: { machine: machine.id, exit_code: ev.exit_code, signal: ev.signal, oom_killed: ev.oom_killed, log_tail: exit.request?.log_tail ?? [] },
    hint: `this is your app's own exit; see the full log with: aloft logs -a ${machine.app_name} --machine ${machine.id}`,
  });
}

function failedStep(machine: Machine, event: MachineEvent): AloftError {
  const err = event.request?.error;
  const fault = (err?.fault ?? 'platform') as AloftError['fault'];
  return new AloftError(err?.code ?? 'machine_failed', fault, `machine ${machine.id} failed to ${event.status.replace(/_failed$/, '')}: ${err?.message ?? 'unknown error'}`, {
    details: { machine: machine.id, host: machine.host_id, log_tail: event.request?.log_tail ?? [] },
    hint: fault === 'platform' ? `a platform fault on host ${machine.host_id}, not your app; try again or report it` : 'fix the cause above and start it again',
  });
}
