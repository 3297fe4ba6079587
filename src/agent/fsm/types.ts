/**
 * Durable operations: an operation is a named list of steps run in order for one subject
 * (a machine). The engine logs each step before running it, so after a crash every unfinished
 * operation resumes at the step it was in. Steps must therefore be idempotent.
 */

export type OperationStatus = 'running' | 'done' | 'failed';

export interface OperationRecord {
  id: string;
  /** The thing the operation acts on; operations on one subject run one at a time, in order. */
  subject: string;
  kind: string;
  input: Record<string, unknown>;
  /** Index of the step to run next (or being run when the process died). */
  step: number;
  /** Name of that step, for logs and fault injection. */
  stepName: string;
  status: OperationStatus;
  error?: { code: string; fault: string; message: string };
  /** Times a step of this operation was entered; a step resumed after a crash counts again. */
  attempts: number;
  createdAt: number;
  updatedAt: number;
}

export interface StepContext {
  readonly op: OperationRecord;
  /** Aborted when the engine shuts down; long steps should observe it. */
  readonly signal: AbortSignal;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

export interface OperationDefinition {
  kind: string;
  steps: Step[];
  /** Called once when a step throws; the operation is then marked failed and not resumed. */
  onFailure?(op: OperationRecord, error: unknown): Promise<void>;
}

/** Where operation records live; writes must be durable (fsync) before they return. */
export interface OperationLog {
  put(op: OperationRecord): void;
  get(id: string): OperationRecord | undefined;
  /** Unfinished operations in creation order. */
  unfinished(): OperationRecord[];
  remove(id: string): void;
}

/**
 * A point where a test may kill the process: `${kind}:${stepName}:before` (step logged, not run)
 * or `${kind}:${stepName}:after` (step run, completion not yet logged).
 */
export type CrashHook = (point: string) => void;
