/**
 * What an agent keeps about each machine it runs. The agent is the only writer; the API's
 * Machine JSON is derived from this record (see view.ts).
 */
import type { ExitInfo } from './runtime/driver.ts';
import type { ResolvedImage } from './image/types.ts';
import type { CheckStatus, MachineConfig, MachineEvent, MachineState } from '../lib/index.ts';

export interface MachineNetworkRecord {
  netnsPath?: string;
  /** The address the local proxy reaches the machine at. */
  ipv4: string;
  /** The machine's private network (6PN) address. */
  ipv6: string;
}

export interface LeaseRecord {
  nonce: string;
  owner: string;
  description: string;
  expiresAtMs: number;
  version: string;
}

export interface MachineRecord {
  id: string;
  name: string;
  app: string;
  /** The app's id: names are reused after an app is deleted, ids never are. */
  appId: string;
  org: string;
  /** The organization's number in the private network's address plan. */
  orgNum: number;
  region: string;
  hostId: string;
  state: MachineState;
  /** What the user last asked for; the agent works towards it after restarts and exits. */
  desired: 'started' | 'stopped' | 'destroyed';
  instanceId: string;
  /** Config of the current instance. */
  config: MachineConfig;
  /** Set while an update is in flight: the config the next instance will run. */
  pendingConfig?: MachineConfig;
  image?: ResolvedImage;
  network?: MachineNetworkRecord;
  /** Consecutive restarts after exits, for the restart policy; reset by a user start. */
  restartCount: number;
  /** True between a user's stop/restart/update/destroy request and the exit it causes. */
  stopRequested: boolean;
  lastExit?: ExitInfo;
  events: MachineEvent[];
  lease?: LeaseRecord;
  /** Health check results of the current instance while it is started (written by checks/runner.ts). */
  checks?: CheckStatus[];
  /** The app secrets version the prepared instance was made with; a newer one means prepare again. */
  secretsVersion?: number;
  /** Out of proxy routing (Fly's machine cordon, and bluegreen's new machines until healthy); it keeps running. */
  cordoned?: boolean;
  metadataVersion: number;
  createdAt: number;
  updatedAt: number;
}

/** Events kept per machine; older ones are dropped so a crash-looping machine cannot grow its record. */
export const eventsPerMachineMax = 50;
