/**
 * The state layer: a per-host node carrying machine state between hosts (the role Corrosion
 * plays for Fly.io). SQLite tables declared in a schema file replicate by CRDT merge; changes
 * spread by gossip and anti-entropy sync; SWIM tracks which hosts are alive.
 *
 * This file is the component's only public surface.
 */
export { openState, type OpenStateOptions, type StateHandle, type QueryResult } from './open.ts';
export type { Statement, StatementResult, CommitResult } from './crdt/store.ts';
export type { Value } from './crdt/value.ts';
export type { SubscriptionEvent, ChangeKind } from './subscriptions.ts';
export type { Member, MemberState, MemberEvent } from './swim/membership.ts';
export { defaultLimits, defaultTiming, type StateLimits, type StateTiming } from './limits.ts';
export { defaultSchemaPath, loadSchemaFile, type Schema } from './schema/schema.ts';
export { StateQueryError, StateRateLimitedError, StateSchemaError, StateSubscriptionError } from './errors.ts';
