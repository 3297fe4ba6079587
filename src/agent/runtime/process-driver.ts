/**
 * The `process` driver, for unprivileged development only: the machine's program runs as a
 * plain host process, with NO isolation — same users, same kernel view, same network, no
 * limits. Its program and working directory are looked up inside the prepared root filesystem,
 * and the root's PATH directories come first in its PATH, so it runs the image's binaries; a
 * program that names absolute paths still sees the host's filesystem.
 *
 * Networking: machines share the host's network. Two machines listening on one port collide;
 * the agent tells the proxy to reach them at 127.0.0.1.
 *
 * Each machine runs under the same init as in the oci driver (here the host's /bin/sh), started
 * in its own session so it survives an agent restart; it writes the exit status to the
 * instance's status directory, and a SIGKILL goes to its whole process group.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../lib/clock.ts';
import { ConflictError, PlatformError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { runCommand } from './command.ts';
import type { ExecResult, ExitInfo, InstanceSpec, InstanceStatus, RuntimeDriver } from './driver.ts';
import { writeSpecFiles } from './guest-files.ts';
import { resolveInRoot } from './guest-path.ts';
import { initScript } from './init-script.ts';
import { InstanceDirs, type StoredSpec } from './instance-dir.ts';
import { KeyedLock } from './keyed-lock.ts';
import { childrenOf, isAlive, procInfo } from './proc.ts';
import { signalMainProcess, waitForExit, waitGone } from './signals.ts';
import { currentExit, watchExits, type FinalExit } from './status-dir.ts';

const killWaitMs = 10_000;
const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessDriverOptions {
  /** Instance directories under `<dataDir>/process`. */
  dataDir: string;
  /** The host shell that runs the init. */
  shell?: string;
  clock?: Clock;
  logger?: Logger;
}

export class ProcessDriver implements RuntimeDriver {
  readonly name = 'process';
  readonly isolation = 'none: machines run as plain host processes sharing the host user, filesystem, network and kernel, with no resource limits; for development only';

  private readonly dirs: InstanceDirs;
  private readonly shell: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly lock = new KeyedLock();

  constructor(options: ProcessDriverOptions) {
    this.dirs = new InstanceDirs(join(options.dataDir, 'process'));
    this.shell = options.shell ?? '/bin/sh';
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
  }

  prepare(spec: InstanceSpec): Promise<void> {
    return this.lock.run(spec.machineId, async () => {
      const status = this.dirs.status(spec.machineId);
      await status.create();
      await writeFile(join(this.dirs.dir(spec.machineId), 'init.sh'), initScript(status.dir), { mode: 0o755 });
      await writeSpecFiles(spec);
      await this.dirs.writeSpec(spec);
    });
  }

  start(machineId: string): Promise<{ pid: number }> {
    return this.lock.run(machineId, async () => {
      const spec = await this.dirs.mustReadSpec(machineId);
      const current = await this.status(machineId);
      if (current.state === 'running') return { pid: current.pid };
      const previous = await this.dirs.status(machineId).run();
      // An ended run's init may still be finishing; its last act must not race the new run's files.
      if (previous?.pid != null) await waitGone(previous.pid, (pid) => isAlive(pid, previous.pidStartTicks ?? undefined));
      const { program, cwd, env } = await this.hostView(spec, spec.process.args);
      await mkdir(cwd, { recursive: true });
      const status = this.dirs.status(machineId);
      const run = await status.beginRun();
      await mkdir(dirname(spec.logPath), { recursive: true });
      const log = await open(spec.logPath, 'a');
      let pid: number;
      try {
        pid = await new Promise<number>((resolve, reject) => {
          const child = spawn(this.shell, [join(this.dirs.dir(machineId), 'init.sh'), ...program], { cwd, env, detached: true, stdio: ['ignore', log.fd, log.fd] });
          child.once('error', (err) => reject(new PlatformError('process_start_failed', `could not start ${this.shell} for machine ${machineId}: ${err.message}`, { cause: err })));
          child.once('spawn', () => resolve(child.pid!));
          // The init is left to run on its own, so the agent can exit while machines keep running.
          child.unref();
        });
      } finally {
        await log.close();
      }
      await status.recordPid(run, pid, (await procInfo(pid))?.startTicks ?? null);
      this.log.debug({ machineId, pid }, 'process machine started');
      return { pid };
    });
  }

  stop(machineId: string, signal: NodeJS.Signals, timeoutMs: number): Promise<ExitInfo | null> {
    return this.lock.run(machineId, async () => {
      const current = await this.status(machineId);
      if (current.state === 'exited') return current.exit;
      if (current.state !== 'running') return null;
      await this.deliver(current.pid, signal);
      const exited = await waitForExit(() => this.finalExit(machineId), timeoutMs);
      if (exited !== null) {
        await waitGone(current.pid, (pid) => isAlive(pid));
        return exited.exit;
      }
      await this.deliver(current.pid, 'SIGKILL');
      const killed = await waitForExit(() => this.finalExit(machineId), killWaitMs);
      if (killed === null) throw new PlatformError('stop_failed', `machine ${machineId} still runs ${killWaitMs} ms after SIGKILL`);
      return killed.exit;
    });
  }

  async signal(machineId: string, signal: NodeJS.Signals): Promise<void> {
    const current = await this.status(machineId);
    if (current.state === 'running') await this.deliver(current.pid, signal);
  }

  async exec(machineId: string, args: string[], timeoutMs: number, stdin?: Buffer): Promise<ExecResult> {
    const spec = await this.dirs.mustReadSpec(machineId);
    const current = await this.status(machineId);
    if (current.state !== 'running') throw new ConflictError('machine_not_running', `machine ${machineId} is not running (${current.state})`);
    const { program, cwd, env } = await this.hostView(spec, args);
    const result = await runCommand(program[0]!, program.slice(1), { timeoutMs, cwd, env, ...(stdin === undefined ? {} : { input: stdin }) });
    return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  }

  async status(machineId: string): Promise<InstanceStatus> {
    if ((await this.dirs.readSpec(machineId)) === null) return { state: 'absent' };
    const run = await this.dirs.status(machineId).run();
    if (run === null || run.pid === null) return { state: 'created' };
    const final = await this.finalExit(machineId);
    return final === null ? { state: 'running', pid: run.pid } : { state: 'exited', exit: final.exit };
  }

  watch(machineId: string, onExit: (exit: ExitInfo) => void): () => void {
    return watchExits(this.dirs.status(machineId).dir, () => this.finalExit(machineId), onExit);
  }

  destroy(machineId: string): Promise<void> {
    return this.lock.run(machineId, async () => {
      const current = await this.status(machineId);
      if (current.state === 'running') {
        await this.deliver(current.pid, 'SIGKILL');
        if ((await waitForExit(() => this.finalExit(machineId), killWaitMs)) === null) {
          throw new PlatformError('destroy_failed', `machine ${machineId} still runs ${killWaitMs} ms after SIGKILL`);
        }
      }
      await rm(this.dirs.dir(machineId), { recursive: true, force: true });
    });
  }

  list(): Promise<string[]> {
    return this.dirs.list().then((ids) => ids.sort());
  }

  private finalExit(machineId: string): Promise<FinalExit | null> {
    // No cgroup, so no OOM accounting: an OOM kill shows as SIGKILL.
    return currentExit(this.dirs.status(machineId), async () => false, () => this.clock.now(), isAlive);
  }

  /** SIGKILL ends the init's whole process group; other signals go to the program. */
  private async deliver(initPid: number, signal: NodeJS.Signals): Promise<void> {
    if (signal !== 'SIGKILL') {
      await signalMainProcess(initPid, signal, childrenOf);
      return;
    }
    try {
      process.kill(-initPid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** The program, working directory and environment as host paths inside the root. */
  private async hostView(spec: StoredSpec, args: string[]): Promise<{ program: string[]; cwd: string; env: NodeJS.ProcessEnv }> {
    const path = spec.process.env.PATH ?? defaultPath;
    const rootDirs = path.split(':').filter((d) => d.startsWith('/')).map((d) => posix.join(spec.rootfsPath, d));
    const env = { ...spec.process.env, PATH: [...rootDirs, path].join(':') };
    const cwd = await resolveInRoot(spec.rootfsPath, spec.process.cwd === '' ? '/' : spec.process.cwd);
    const program = await findProgram(spec.rootfsPath, args[0] ?? '', path, spec.process.cwd);
    return { program: [program, ...args.slice(1)], cwd, env };
  }
}

/**
 * argv[0] inside the root: a path is resolved against the root (and the cwd if relative), a
 * bare name is looked up in PATH's directories inside the root. The last component is not
 * followed, so multi-call binaries such as busybox still see the name they were called by.
 */
async function findProgram(rootfs: string, name: string, path: string, cwd: string): Promise<string> {
  if (name === '') throw new ConflictError('no_program', 'the machine has no program to run', { hint: 'set cmd or entrypoint in the image or config.init' });
  if (name.includes('/')) return resolveInRoot(rootfs, posix.resolve(cwd === '' ? '/' : cwd, name), false);
  for (const dir of path.split(':').filter((d) => d.startsWith('/'))) {
    const candidate = await resolveInRoot(rootfs, posix.join(dir, name), false);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  // Not in the image: the init's shell reports "not found" and exits 127, as an exec would.
  return posix.join(rootfs, name);
}
