import { AloftError, type AloftErrorOptions, ValidationError } from '../lib/errors.ts';

/** A statement or transaction was refused: bad SQL, too large, or touching a non-replicated table. */
export class StateQueryError extends ValidationError {}

/** This node's local writer exceeded its rate; only this writer is slowed (HTTP 429). */
export class StateRateLimitedError extends AloftError {
  constructor(message: string, options: AloftErrorOptions = {}) {
    super('state_rate_limited', 'user', message, { status: 429, hint: 'retry after a short pause', ...options });
  }
}

/** The schema file and the database disagree in a way that would lose data (a destructive change). */
export class StateSchemaError extends AloftError {
  constructor(message: string, options: AloftErrorOptions = {}) {
    super('state_schema', 'config', message, { status: 400, ...options });
  }
}

/** A subscription cannot resume from the requested change id (too old, or unknown subscription). */
export class StateSubscriptionError extends AloftError {
  constructor(code: 'subscription_not_found' | 'subscription_resume_too_old', message: string) {
    super(code, 'user', message, {
      status: code === 'subscription_not_found' ? 404 : 410,
      hint: 'open a new subscription; its initial rows are the current state',
    });
  }
}
