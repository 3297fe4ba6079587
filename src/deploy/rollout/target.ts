/**
 * What a rollout needs from the platform: the Machines API calls a deploy makes. The CLI
 * implements it over HTTP with the user's token; keeping it an interface keeps `deploy/` free
 * of any client and lets one rollout engine serve the CLI and, later, the dashboard.
 */
import type { Machine, MachineConfigInput } from '../../lib/index.ts';

export interface CreateMachineRequest {
  config: MachineConfigInput;
  region?: string;
  name?: string;
  skip_launch?: boolean;
  /** Start out of proxy routing until uncordoned (bluegreen's new set). */
  skip_service_registration?: boolean;
}

export interface DeployTarget {
  listMachines(app: string): Promise<Machine[]>;
  getMachine(app: string, id: string): Promise<Machine>;
  createMachine(app: string, request: CreateMachineRequest): Promise<Machine>;
  /**
   * Replaces the machine's whole config; the host updates it in place when it can take it. The
   * machine starts unless `skipLaunch`.
   */
  updateMachine(app: string, id: string, config: MachineConfigInput, options: { skipLaunch: boolean }): Promise<Machine>;
  destroyMachine(app: string, id: string): Promise<void>;
  /** Takes the machine out of proxy routing (bluegreen keeps new machines out until healthy). */
  cordon(app: string, id: string): Promise<void>;
  uncordon(app: string, id: string): Promise<void>;
  /** The version of the app's secrets now: a machine on an older one is stale even if its config is not. */
  secretsVersion(app: string): Promise<number>;
}

/** What a deploy reports as it goes, for the CLI to print. */
export interface DeployProgress {
  (event: { step: string; machine?: string; group?: string; message: string }): void;
}
