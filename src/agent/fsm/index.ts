export { OperationEngine, queuedOperationsPerSubjectMax, type EngineOptions } from './engine.ts';
export type { CrashHook, OperationDefinition, OperationLog, OperationRecord, Step, StepContext } from './types.ts';
