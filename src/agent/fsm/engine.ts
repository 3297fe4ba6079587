import { asAloftError, type Clock, type Logger, newUlid } from '../../lib/index.ts';
import type { CrashHook, OperationDefinition, OperationLog, OperationRecord } from './types.ts';

export interface EngineOptions {
  log: OperationLog;
  clock: Clock;
  logger: Logger;
  crashHook?: CrashHook;
}

/** Bound on operations waiting per subject, so a client hammering one machine cannot grow memory. */
export const queuedOperationsPerSubjectMax = 16;

/**
 * Runs durable operations. Operations on the same subject are serialized; different subjects
 * run concurrently. `submit` returns once the operation is durably logged; `done(op)` resolves
 * when it finishes (or rejects with the step's error).
 */
export class OperationEngine {
  readonly #definitions = new Map<string, OperationDefinition>();
  readonly #tails = new Map<string, { promise: Promise<void>; depth: number }>();
  readonly #completions = new Map<string, Promise<OperationRecord>>();
  readonly #abort = new AbortController();
  readonly #opts: EngineOptions;

  constructor(opts: EngineOptions) {
    this.#opts = opts;
  }

  define(def: OperationDefinition): void {
    if (def.steps.length === 0) throw new Error(`operation ${def.kind} has no steps`);
    this.#definitions.set(def.kind, def);
  }

  /** Re-enqueues every unfinished operation from the log, in the order they were submitted. */
  resume(): OperationRecord[] {
    const pending = this.#opts.log.unfinished();
    for (const op of pending) {
      this.#opts.logger.info({ op: op.id, kind: op.kind, subject: op.subject, step: op.stepName }, 'resuming operation');
      this.#enqueue(op);
    }
    return pending;
  }

  /** Number of operations queued or running for `subject`. */
  depth(subject: string): number {
    return this.#tails.get(subject)?.depth ?? 0;
  }

  /** Resolves when nothing is queued or running for `subject`. */
  async idle(subject: string): Promise<void> {
    for (let tail = this.#tails.get(subject); tail !== undefined; tail = this.#tails.get(subject)) await tail.promise;
  }

  submit(kind: string, subject: string, input: Record<string, unknown> = {}): OperationRecord {
    const def = this.#definitions.get(kind);
    if (def === undefined) throw new Error(`unknown operation kind ${kind}`);
    if (this.depth(subject) >= queuedOperationsPerSubjectMax) {
      throw new Error(`too many operations queued for ${subject}`);
    }
    const now = this.#opts.clock.now();
    const op: OperationRecord = {
      id: newUlid(now),
      subject,
      kind,
      input,
      step: 0,
      stepName: def.steps[0]!.name,
      status: 'running',
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    };
    this.#opts.log.put(op);
    this.#enqueue(op);
    return op;
  }

  /** Resolves with the finished record; rejects if the operation failed. */
  async done(op: OperationRecord): Promise<OperationRecord> {
    const completion = this.#completions.get(op.id);
    const finished = completion === undefined ? this.#opts.log.get(op.id) ?? op : await completion;
    if (finished.status === 'failed') throw Object.assign(new Error(finished.error?.message ?? 'operation failed'), { op: finished });
    return finished;
  }

  /** Stops starting new steps; the step in flight sees its signal aborted. */
  async close(): Promise<void> {
    this.#abort.abort(new Error('agent shutting down'));
    await Promise.allSettled([...this.#tails.values()].map((t) => t.promise));
  }

  #enqueue(op: OperationRecord): void {
    const prev = this.#tails.get(op.subject);
    const depth = (prev?.depth ?? 0) + 1;
    const completion = (prev?.promise ?? Promise.resolve()).then(() => this.#run(op));
    this.#completions.set(op.id, completion);
    const tail = completion.then(
      () => undefined,
      () => undefined,
    );
    const entry = { promise: tail, depth };
    this.#tails.set(op.subject, entry);
    void tail.then(() => {
      this.#completions.delete(op.id);
      const current = this.#tails.get(op.subject);
      if (current === entry) this.#tails.delete(op.subject);
      else if (current !== undefined) current.depth -= 1;
    });
  }

  async #run(op: OperationRecord): Promise<OperationRecord> {
    const def = this.#definitions.get(op.kind);
    if (def === undefined) return this.#finish(op, 'failed', new Error(`unknown operation kind ${op.kind}`));
    const { log, clock, crashHook } = this.#opts;
    const signal = this.#abort.signal;
    for (let i = op.step; i < def.steps.length; i++) {
      if (signal.aborted) return op; // left unfinished in the log; resumed on next start
      const step = def.steps[i]!;
      op = { ...op, step: i, stepName: step.name, attempts: op.attempts + 1, updatedAt: clock.now() };
      log.put(op);
      crashHook?.(`${op.kind}:${step.name}:before`);
      const startedMs = clock.monotonicMs();
      try {
        await step.run({ op, signal });
        this.#opts.logger.debug({ op: op.id, kind: op.kind, subject: op.subject, step: step.name, ms: Math.round(clock.monotonicMs() - startedMs) }, 'step done');
      } catch (err) {
        if (signal.aborted) return op;
        this.#opts.logger.warn({ op: op.id, kind: op.kind, step: step.name, err: asAloftError(err).message }, 'step failed');
        await def.onFailure?.(op, err).catch((e: unknown) => {
          this.#opts.logger.error({ op: op.id, err: asAloftError(e).message }, 'failure handler failed');
        });
        return this.#finish(op, 'failed', err);
      }
      crashHook?.(`${op.kind}:${step.name}:after`);
    }
    return this.#finish(op, 'done');
  }

  #finish(op: OperationRecord, status: 'done' | 'failed', err?: unknown): OperationRecord {
    const finished: OperationRecord = { ...op, status, updatedAt: this.#opts.clock.now() };
    if (err !== undefined) {
      const e = asAloftError(err);
      finished.error = { code: e.code, fault: e.fault, message: e.message };
    }
    // Finished operations are not kept: the machine record holds the outcome and its events.
    this.#opts.log.remove(op.id);
    return finished;
  }
}
