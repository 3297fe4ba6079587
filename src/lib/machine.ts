/**
 * A machine as the Machines API returns it (Fly-compatible JSON), and its events. The agent
 * that runs a machine is the only writer of these facts; the API and the CLI read them.
 */
import type { MachineConfig } from './machine-config.ts';

export const machineStates = [
  'created',
  'starting',
  'started',
  'stopping',
  'stopped',
  'replacing',
  'destroying',
  'destroyed',
  'failed',
] as const;
export type MachineState = (typeof machineStates)[number];

export interface ExitEvent {
  exit_code: number;
  oom_killed: boolean;
  requested_stop: boolean;
  restarting: boolean;
  signal: number;
  exited_at: string;
}

export interface MachineEvent {
  id: string;
  type: 'launch' | 'start' | 'stop' | 'restart' | 'update' | 'exit' | 'destroy' | 'failed';
  status: string;
  source: 'user' | 'flyd';
  /** Milliseconds since the epoch. */
  timestamp: number;
  request?: {
    exit_event?: ExitEvent;
    restart_count?: number;
    /** The last lines the machine wrote before it exited, so an error can show them. */
    log_tail?: string[];
    /** Why a step failed, for `failed` events. */
    error?: { code: string; fault: string; message: string };
  };
}

export interface ImageRefView {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  labels: Record<string, string>;
}

export interface CheckStatus {
  name: string;
  status: 'passing' | 'warning' | 'critical';
  output: string;
  updated_at: string;
}

export interface Machine {
  id: string;
  name: string;
  /** `unknown`: its host did not answer the listing and nothing fresher is known (host_status says why). */
  state: MachineState | 'unknown';
  region: string;
  instance_id: string;
  private_ip: string;
  config: MachineConfig;
  image_ref: ImageRefView;
  created_at: string;
  updated_at: string;
  events: MachineEvent[];
  checks: CheckStatus[];
  host_status: 'ok' | 'unknown' | 'unreachable';
  /** Aloft additions (kept apart from Fly's names): where the machine runs and who owns it. */
  app_name: string;
  host_id: string;
  /** The version of the app's secrets its current instance was prepared with (0: none). */
  secrets_version: number;
  /** Out of proxy routing (cordoned, or created with skip_service_registration). */
  cordoned: boolean;
}
