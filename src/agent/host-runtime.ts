/**
 * The parts of a host an agent drives to run machines, behind interfaces so the same agent
 * runs over runc with network namespaces as root and over plain processes without root.
 */
import type { ImageStore } from './image/types.ts';
import type { RuntimeDriver } from './runtime/driver.ts';
import type { MachineNetworkRecord } from './record.ts';

export interface MachineNetworking {
  /**
   * Gives the machine its addresses (and namespace, where there is isolation); the org number
   * picks its private network. Idempotent.
   */
  attach(machineId: string, orgNum: number): Promise<MachineNetworkRecord>;
  /** Removes what attach made. Safe if absent. */
  detach(machineId: string): Promise<void>;
}

export interface HostRuntime {
  images: ImageStore;
  networking: MachineNetworking;
  driver: RuntimeDriver;
}
