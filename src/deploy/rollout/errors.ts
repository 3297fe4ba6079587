/**
 * Why a deploy failed, in one of a few classes a person can act on — never "unhealthy
 * allocations". The class decides the fault (and so the CLI's exit code); the details carry
 * the evidence: exit code and log lines, the failing check and its output, the host.
 */
import { AloftError, type Fault } from '../../lib/index.ts';

export type DeployFailureCause =
  | 'app_crashed' // the app exited on its own after starting
  | 'health_check_failed' // it runs, but a check did not pass in time
  | 'release_command_failed' // the release command exited non-zero
  | 'config' // the config asks for something impossible
  | 'capacity' // no host in the region can take a machine
  | 'request' // the platform refused a request the deploy made (e.g. the token does not allow it)
  | 'platform'; // a host or component of ours failed

const faultOf: Record<DeployFailureCause, Fault> = {
  app_crashed: 'app',
  health_check_failed: 'app',
  release_command_failed: 'app',
  config: 'config',
  capacity: 'capacity',
  request: 'user',
  platform: 'platform',
};

/** The failure class of an error of the given fault, for errors that are not the deploy's own. */
export function failureOf(fault: Fault): DeployFailureCause {
  const byFault: Record<Fault, DeployFailureCause> = { app: 'app_crashed', config: 'config', capacity: 'capacity', user: 'request', platform: 'platform' };
  return byFault[fault];
}

export interface RollbackReport {
  machine: string;
  ok: boolean;
  /** restored: an old machine back on the previous release (and in routing); destroyed: a new one removed. */
  action: 'restored' | 'destroyed';
  error?: string;
}

export class DeployError extends AloftError {
  readonly failure: DeployFailureCause;

  constructor(failure: DeployFailureCause, message: string, options: { hint: string; details?: Record<string, unknown>; cause?: unknown }) {
    super(`deploy_${failure}`, faultOf[failure], message, {
      hint: options.hint,
      details: { failure, ...options.details },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.failure = failure;
  }

  /** The same failure, with what the rollback did added to its details and message. */
  withRollback(report: RollbackReport[]): DeployError {
    const failed = report.filter((r) => !r.ok);
    const count = (action: RollbackReport['action']): number => report.filter((r) => r.action === action).length;
    const done = [
      ...(count('restored') === 0 ? [] : [`rolled back ${plural(count('restored'), 'machine')} to the previous release`]),
      ...(count('destroyed') === 0 ? [] : [`destroyed ${plural(count('destroyed'), 'new machine')}`]),
    ];
    const summary = report.length === 0 ? '' : failed.length === 0 ? `; ${done.join(', ')}` : `; rollback failed for ${failed.map((r) => r.machine).join(', ')}`;
    return new DeployError(this.failure, `${this.message}${summary}`, { hint: this.hint ?? '', details: { ...this.details, rollback: report }, cause: this });
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Classifies an error thrown by a platform call made during a deploy. */
export function deployErrorFrom(err: unknown, doing: string): DeployError {
  if (err instanceof DeployError) return err;
  if (err instanceof AloftError) {
    return new DeployError(failureOf(err.fault), `${doing}: ${err.message}`, { hint: err.hint ?? 'see the message above', details: { code: err.code, ...err.details }, cause: err });
  }
  return new DeployError('platform', `${doing}: ${err instanceof Error ? err.message : String(err)}`, { hint: 'a fault of the platform, not your app; try again or report it', cause: err });
}
