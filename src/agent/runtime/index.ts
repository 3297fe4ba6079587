/** Runtime drivers' public surface: the RuntimeDriver interface and its oci (runc) and process implementations. */
export type { ExecResult, ExitInfo, InstanceSpec, InstanceStatus, ProcessSpec, ResourceLimits, RuntimeDriver } from './driver.ts';
export { OciDriver, type OciDriverOptions } from './oci-driver.ts';
export { ProcessDriver, type ProcessDriverOptions } from './process-driver.ts';
export { ociRuntimeAvailable } from './available.ts';
