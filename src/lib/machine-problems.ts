/**
 * Why a machine is not running, read from its events: it exited on its own (the app's fault:
 * exit code, signal, OOM and its last log lines) or a step failed (whose fault the step says).
 * Shared by everything that starts machines and must explain the outcome: the CLI and deploys.
 */
import { AloftError } from './errors.ts';
import type { Machine, MachineEvent } from './machine.ts';

/** The reason the machine is not running, from the events not in `known`; undefined when none. */
export function explainMachineEvents(machine: Machine, known: ReadonlySet<string>): AloftError | undefined {
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
