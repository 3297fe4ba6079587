/**
 * The runc command line, with our own state root (`runc --root DIR`) so our containers never mix
 * with anyone else's. Only `run` is spawned by hand: its stdio is the machine's log file, which
 * the container inherits, so no process of ours sits between the machine and its log.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../lib/errors.ts';
import { commandTimeoutMsDefault, mustRun, runCommand, type CommandResult } from './command.ts';

export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export class Runc {
  private readonly root: string;
  private readonly binary: string;

  constructor(root: string, binary = 'runc') {
    this.root = root;
    this.binary = binary;
  }

  /** The container's status and init pid, or null when runc has no such container. */
  async state(id: string): Promise<{ status: RuncStatus; pid: number } | null> {
    const result = await this.call(['state', id]);
    if (result.exitCode !== 0) {
      if (/does not exist|not exist/.test(result.stderr)) return null;
      throw this.failure(['state', id], result);
    }
    const state = JSON.parse(result.stdout) as { status: RuncStatus; pid: number };
    return { status: state.status, pid: state.pid };
  }

  /**
   * `runc run --detach`: creates and starts the container with `logFd` as its stdout and stderr;
   * resolves with the init's host pid. runc's own diagnostics go to `<bundle>/runc.log`.
   */
  async run(id: string, bundle: string, logFd: number): Promise<number> {
    const pidFile = join(bundle, 'init.pid');
    const runcLog = join(bundle, 'runc.log');
    await rm(pidFile, { force: true });
    await rm(runcLog, { force: true });
    const args = ['--root', this.root, '--log', runcLog, '--log-format', 'json', 'run', '--detach', '--bundle', bundle, '--pid-file', pidFile, id];
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(this.binary, args, { stdio: ['ignore', logFd, logFd] });
      const timer = setTimeout(() => child.kill('SIGKILL'), commandTimeoutMsDefault);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new PlatformError('runc_failed', `${this.binary} run ${id} could not start: ${err.message}`, { cause: err }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? 128 + (signal === null ? 0 : 9));
      });
    });
    if (exitCode !== 0) {
      const detail = await lastRuncError(runcLog);
      throw new PlatformError('runc_failed', `${this.binary} run ${id} failed (exit ${exitCode}): ${detail}`, { details: { command: this.binary, args, exitCode } });
    }
    return Number((await readFile(pidFile, 'utf8')).trim());
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await mustRun(this.binary, ['--root', this.root, 'kill', ...(all ? ['--all'] : []), id, signal]);
  }

  /** Deletes the container (killing it first with `force`); no error if it does not exist. */
  async delete(id: string, force: boolean): Promise<void> {
    const result = await this.call(['delete', ...(force ? ['--force'] : []), id]);
    if (result.exitCode !== 0 && !/does not exist|not exist/.test(result.stderr)) throw this.failure(['delete', id], result);
  }

  exec(id: string, execArgs: string[], timeoutMs: number, input?: Buffer): Promise<CommandResult> {
    return runCommand(this.binary, ['--root', this.root, 'exec', ...execArgs], { timeoutMs, ...(input === undefined ? {} : { input }) }).then((r) => {
      // runc exits 255 with its own message when the exec itself fails (no such container, bad cwd).
      if (r.exitCode === 255 && r.stderr.includes('runc')) throw this.failure(['exec', id], r);
      return r;
    });
  }

  async list(): Promise<string[]> {
    const out = await mustRun(this.binary, ['--root', this.root, 'list', '--format', 'json']);
    const list = JSON.parse(out.trim() === '' || out.trim() === 'null' ? '[]' : out) as { id: string }[];
    return list.map((c) => c.id);
  }

  private call(args: string[]): Promise<CommandResult> {
    return runCommand(this.binary, ['--root', this.root, ...args]);
  }

  private failure(args: string[], result: CommandResult): PlatformError {
    return new PlatformError('runc_failed', `${this.binary} ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 500)}`, {
      details: { command: this.binary, args, exitCode: result.exitCode, stderr: result.stderr.slice(0, 2000) },
    });
  }
}

/** The last error runc logged, as text. */
async function lastRuncError(runcLog: string): Promise<string> {
  const text = await readFile(runcLog, 'utf8').catch(() => '');
  const lines = text.trim().split('\n').filter((l) => l !== '');
  for (const line of lines.reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') return entry.msg ?? line;
    } catch {
      return line.slice(0, 500);
    }
  }
  return 'no error logged';
}
