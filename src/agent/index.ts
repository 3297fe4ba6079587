/** The per-host agent (flyd's role): durable machine lifecycle on this host. */
export { Agent, type AgentOptions } from './agent.ts';
export { AgentClient, type CreateOnAgent } from './client.ts';
export { startHostAgent, type HostAgent, type HostAgentOptions } from './host-agent.ts';
export { StatePublisher, type PublishedHost } from './publisher.ts';
export type { HostView } from './http.ts';
export { detectHostCapacity, sharedCpuOversubscription, type HostCapacity } from './capacity.ts';
export type { HostRuntime, MachineNetworking } from './host-runtime.ts';
export { leaseNonceHeader } from './http.ts';
export type { MachineRecord } from './record.ts';
export type { CrashHook } from './fsm/index.ts';
export type { ImageSource, ImageStore, ResolvedImage } from './image/types.ts';
export type { RuntimeDriver, InstanceSpec, ExitInfo } from './runtime/driver.ts';
export { createHostRuntime, type DriverName, type HostRuntimeOptions } from './runtime-factory.ts';
export { noSecrets, stateSecretsSource, type AppSecrets, type AppSecretsSource } from './secrets.ts';
