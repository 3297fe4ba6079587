/**
 * The one small interface through which an agent runs machines. Every method is idempotent:
 * the agent's FSM engine may call any of them again after a crash, with the same arguments,
 * and must get the same outcome without leaking anything.
 */

/** What a machine's main process is, already resolved from the image config and `config.init`. */
export interface ProcessSpec {
  /** argv[0] is the program, resolved inside the root filesystem (absolute or looked up in PATH). */
  args: string[];
  env: Record<string, string>;
  /** Working directory inside the root filesystem. */
  cwd: string;
  uid: number;
  gid: number;
}

export interface ResourceLimits {
  cpus: number;
  memoryMb: number;
  pidsMax: number;
}

/** Everything a driver needs to create one instance of a machine. */
export interface InstanceSpec {
  machineId: string;
  /** Changes on every update; a driver keeps at most one instance per machine. */
  instanceId: string;
  /** A prepared, writable root filesystem (the image's layers with a private upper layer). */
  rootfsPath: string;
  process: ProcessSpec;
  limits: ResourceLimits;
  /** Path of the network namespace to join (e.g. /var/run/netns/NAME); absent = driver's default. */
  netnsPath?: string;
  /** Hostname inside the machine. */
  hostname: string;
  /** File the driver appends the machine's stdout and stderr to. */
  logPath: string;
  /** Extra read-write bind mounts (volumes), host path → guest path. */
  mounts: { hostPath: string; guestPath: string }[];
  /** Files to place in the guest before start (resolved secrets and raw values). */
  files: { guestPath: string; content: Buffer; mode: number }[];
}

/** How a machine's main process ended. */
export interface ExitInfo {
  exitCode: number;
  /** Signal number that killed it, when it was killed by a signal. */
  signal: number | null;
  oomKilled: boolean;
  /** Milliseconds since the epoch. */
  exitedAt: number;
}

export type InstanceStatus =
  | { state: 'absent' }
  | { state: 'created' }
  | { state: 'running'; pid: number }
  | { state: 'exited'; exit: ExitInfo };

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RuntimeDriver {
  /** 'oci' or 'process'. */
  readonly name: string;
  /** A sentence for operators about the isolation this driver gives (the process driver says: none). */
  readonly isolation: string;

  /** Creates the instance (bundle, cgroup) without starting it. Safe to repeat. */
  prepare(spec: InstanceSpec): Promise<void>;
  /** Starts the prepared instance's main process; returns when it is running. Safe if running. */
  start(machineId: string): Promise<{ pid: number }>;
  /**
   * Sends `signal`, waits up to `timeoutMs` for exit, then kills. Resolves with how it exited;
   * resolves at once if it is not running.
   */
  stop(machineId: string, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | null>;
  /** Delivers a signal to the main process. */
  signal(machineId: string, signal: NodeJS.Signals): Promise<void>;
  /** Runs a command inside the running instance. */
  exec(machineId: string, args: string[], timeoutMs: number, stdin?: Buffer): Promise<ExecResult>;
  status(machineId: string): Promise<InstanceStatus>;
  /**
   * Calls `onExit` once each time the main process of `machineId` exits, including exits that
   * happened while the agent was down (reported as soon as `watch` is called). Returns a function
   * that stops watching.
   */
  watch(machineId: string, onExit: (exit: ExitInfo) => void): () => void;
  /** Removes the instance and everything the driver made for it (cgroups too). Safe if absent. */
  destroy(machineId: string): Promise<void>;
  /** Machine ids this driver has instances of, for reconciling after a restart and finding leaks. */
  list(): Promise<string[]>;
}
