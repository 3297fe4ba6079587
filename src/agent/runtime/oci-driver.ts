/**
 * The `oci` driver: runc, one container per machine, with its own pid/mount/uts/ipc namespaces,
 * the network namespace it is given, and cgroup v1 limits. Needs root.
 *
 * Nothing of ours stays running per machine on the host: `runc run --detach` hands the
 * container its log file as stdout/stderr and exits, the container's init is reparented to the
 * host's init, and the exit status comes back through a file our in-container init writes into
 * a bind-mounted status directory (see init-script.ts), read by polling and inotify. So an
 * agent crash loses nothing: a restarted agent reads the same files and asks runc the same
 * questions.
 *
 * Layout: `<dataDir>/oci/<machineId>/` is the bundle (config.json, init.sh, instance.json,
 * status/), `<dataDir>/runc` is runc's state root.
 */
import { chown, chmod, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { ConflictError, PlatformError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { cgroupsPath, oomKillCount, removeCgroups } from './cgroups.ts';
import type { ExecResult, ExitInfo, InstanceSpec, InstanceStatus, RuntimeDriver } from './driver.ts';
import { writeNetworkFiles, writeSpecFiles } from './guest-files.ts';
import { initScript } from './init-script.ts';
import { InstanceDirs } from './instance-dir.ts';
import { KeyedLock } from './keyed-lock.ts';
import { ociConfig, guestStatusDir } from './oci-spec.ts';
import { childrenOf, isAlive, procInfo } from './proc.ts';
import { Runc } from './runc.ts';
import { currentExit, watchExits, type FinalExit } from './status-dir.ts';
import { signalMainProcess, waitForExit, waitGone } from './signals.ts';

/** After SIGKILL the kernel tears the namespace down in milliseconds; longer means something is stuck. */
const killWaitMs = 10_000;

export interface OciDriverOptions {
  /** Bundles under `<dataDir>/oci`, runc state under `<dataDir>/runc`. */
  dataDir: string;
  /** Parent cgroup of every machine (`/<parent>/<machineId>` in each v1 hierarchy). */
  cgroupParent?: string;
  /** A static busybox on the host, bind-mounted read-only into each machine to run our init. */
  busyboxPath?: string;
  /** Nameservers written to each machine's /etc/resolv.conf; default is the 6PN resolver fdaa::3. */
  nameservers?: string[];
  runcBinary?: string;
  clock?: Clock;
  logger?: Logger;
}

export class OciDriver implements RuntimeDriver {
  readonly name = 'oci';
  readonly isolation = 'Linux namespaces (pid, mount, uts, ipc, network) and cgroup limits under runc; the kernel is shared with the host.';

  private readonly dirs: InstanceDirs;
  private readonly runc: Runc;
  private readonly cgroupParent: string;
  private readonly busyboxPath: string;
  private readonly nameservers: string[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly lock = new KeyedLock();
  /** Starts under way; while any is, destroy keeps the shared parent cgroup that runc is about to use. */
  private startsInFlight = 0;

  constructor(options: OciDriverOptions) {
    this.dirs = new InstanceDirs(join(options.dataDir, 'oci'));
    this.runc = new Runc(join(options.dataDir, 'runc'), options.runcBinary);
    this.cgroupParent = options.cgroupParent ?? 'aloft';
    this.busyboxPath = options.busyboxPath ?? '/bin/busybox';
    this.nameservers = options.nameservers ?? ['fdaa::3'];
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
  }

  prepare(spec: InstanceSpec): Promise<void> {
    return this.lock.run(spec.machineId, async () => {
      const dir = this.dirs.dir(spec.machineId);
      const status = this.dirs.status(spec.machineId);
      await status.create();
      // The init runs as the machine's user and must be able to write its status.
      await chown(status.dir, spec.process.uid, spec.process.gid);
      await chmod(status.dir, 0o755);
      await writeFile(join(dir, 'init.sh'), initScript(guestStatusDir), { mode: 0o755 });
      await writeSpecFiles(spec);
      await writeNetworkFiles(spec, this.nameservers);
      const config = ociConfig(spec, {
        hostBusybox: this.busyboxPath,
        hostInitScript: join(dir, 'init.sh'),
        hostStatusDir: status.dir,
        cgroupsPath: cgroupsPath(this.cgroupParent, spec.machineId),
      });
      // 0600: the process environment in it holds the app's secrets.
      await writeFile(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      await this.dirs.writeSpec(spec);
    });
  }

  start(machineId: string): Promise<{ pid: number }> {
    return this.lock.run(machineId, async () => {
      const spec = await this.dirs.mustReadSpec(machineId);
      const state = await this.runc.state(machineId);
      if (state?.status === 'running') {
        // Running, unless the run has ended and its init is only finishing: then wait it out and start anew.
        if ((await this.finalExit(machineId)) === null) return { pid: state.pid };
        await waitGone(state.pid, (pid) => isAlive(pid));
      }
      if (state !== null) await this.runc.delete(machineId, true);
      const status = this.dirs.status(machineId);
      const run = await status.beginRun();
      await mkdir(dirname(spec.logPath), { recursive: true });
      const log = await open(spec.logPath, 'a');
      this.startsInFlight += 1;
      let pid: number;
      try {
        pid = await this.runc.run(machineId, this.dirs.dir(machineId), log.fd);
      } finally {
        this.startsInFlight -= 1;
        await log.close();
      }
      await status.recordPid(run, pid, (await procInfo(pid))?.startTicks ?? null);
      return { pid };
    });
  }

  stop(machineId: string, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | null> {
    return this.lock.run(machineId, async () => {
      const current = await this.status(machineId);
      if (current.state === 'exited') return current.exit;
      if (current.state !== 'running') return null;
      await this.deliver(machineId, current.pid, signal);
      const exited = await waitForExit(() => this.finalExit(machineId), timeoutMs);
      if (exited !== null) {
        await this.release(machineId, current.pid);
        return exited.exit;
      }
      this.log.info({ machineId, signal, timeoutMs }, 'machine did not stop in time; killing');
      await this.runc.kill(machineId, 'KILL').catch(() => undefined);
      const killed = await waitForExit(() => this.finalExit(machineId), killWaitMs);
      if (killed === null) throw new PlatformError('stop_failed', `machine ${machineId} still runs ${killWaitMs} ms after SIGKILL`);
      await this.release(machineId, current.pid);
      return killed.exit;
    });
  }

  async signal(machineId: string, signal: NodeJS.Signals): Promise<void> {
    const current = await this.status(machineId);
    if (current.state !== 'running') return;
    await this.deliver(machineId, current.pid, signal);
  }

  async exec(machineId: string, args: string[], timeoutMs: number, stdin?: Buffer): Promise<ExecResult> {
    const spec = await this.dirs.mustReadSpec(machineId);
    const current = await this.status(machineId);
    if (current.state !== 'running') throw new ConflictError('machine_not_running', `machine ${machineId} is not running (${current.state})`);
    const env = Object.entries(spec.process.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const execArgs = [...env, '--cwd', spec.process.cwd === '' ? '/' : spec.process.cwd, '--user', `${spec.process.uid}:${spec.process.gid}`, machineId, ...args];
    const result = await this.runc.exec(machineId, execArgs, timeoutMs, stdin);
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  }

  async status(machineId: string): Promise<InstanceStatus> {
    if ((await this.dirs.readSpec(machineId)) === null) {
      const orphan = await this.runc.state(machineId);
      return orphan === null ? { state: 'absent' } : orphan.status === 'running' ? { state: 'running', pid: orphan.pid } : { state: 'created' };
    }
    const run = await this.dirs.status(machineId).run();
    if (run === null || run.pid === null) {
      const state = await this.runc.state(machineId);
      return state?.status === 'running' ? { state: 'running', pid: state.pid } : { state: 'created' };
    }
    const final = await this.finalExit(machineId);
    return final === null ? { state: 'running', pid: run.pid } : { state: 'exited', exit: final.exit };
  }

  watch(machineId: string, onExit: (exit: ExitInfo) => void): () => void {
    return watchExits(this.dirs.status(machineId).dir, () => this.finalExit(machineId), onExit);
  }

  destroy(machineId: string): Promise<void> {
    return this.lock.run(machineId, async () => {
      await this.runc.delete(machineId, true);
      await removeCgroups(this.cgroupParent, machineId, this.startsInFlight > 0);
      await rm(this.dirs.dir(machineId), { recursive: true, force: true });
    });
  }

  async list(): Promise<string[]> {
    const ids = new Set([...(await this.dirs.list()), ...(await this.runc.list())]);
    return [...ids].sort();
  }

  /**
   * After a stop: waits for the init to be gone and deletes the stopped container now, so the
   * next start is a single `runc run`. The exit (OOM included) is already stored, so losing the
   * cgroup loses nothing.
   */
  private async release(machineId: string, initPid: number): Promise<void> {
    await waitGone(initPid, (pid) => isAlive(pid));
    await this.runc.delete(machineId, false);
  }

  private finalExit(machineId: string): Promise<FinalExit | null> {
    return currentExit(
      this.dirs.status(machineId),
      async () => (await oomKillCount(this.cgroupParent, machineId)) > 0,
      () => this.clock.now(),
      isAlive,
    );
  }

  /** SIGKILL goes to the whole container; other signals to the program, as the init does not forward. */
  private async deliver(machineId: string, initPid: number, signal: NodeJS.Signals): Promise<void> {
    if (signal === 'SIGKILL') {
      await this.runc.kill(machineId, 'KILL').catch(() => undefined);
      return;
    }
    await signalMainProcess(initPid, signal, childrenOf);
  }
}
