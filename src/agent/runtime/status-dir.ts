/**
 * One instance's status directory on the host: `run.json` (which run is current and its init's
 * pid), `exit` (written by the init when the program ends) and `exit.json` (the exit as the
 * driver finally judged it, OOM included, so later reads agree even after the cgroup is gone).
 */
import { watch as fsWatch } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../../lib/ids.ts';
import type { ExitInfo } from './driver.ts';
import { exitFileName, exitFromStatus } from './init-script.ts';

/** How often a watcher looks even without a file event: catches an init killed before it could write. */
export const watchPollMs = 1000;

export interface RunRecord {
  runId: string;
  /** Host pid of the instance's init; null between "about to start" and "started". */
  pid: number | null;
  pidStartTicks: number | null;
}

export interface FinalExit {
  runId: string;
  exit: ExitInfo;
}

export class StatusDir {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async create(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Starts a new run: forgets the previous exit and records the new run id before anything starts. */
  async beginRun(): Promise<RunRecord> {
    await rm(join(this.dir, exitFileName), { force: true });
    await rm(join(this.dir, 'exit.json'), { force: true });
    const run: RunRecord = { runId: randomHex(8), pid: null, pidStartTicks: null };
    await this.writeJson('run.json', run);
    return run;
  }

  async recordPid(run: RunRecord, pid: number, pidStartTicks: number | null): Promise<RunRecord> {
    const updated = { ...run, pid, pidStartTicks };
    await this.writeJson('run.json', updated);
    return updated;
  }

  async run(): Promise<RunRecord | null> {
    return this.readJson<RunRecord>('run.json');
  }

  /** The status the init wrote, with the file's time, or null if it has not (fully) written one. */
  async initExit(): Promise<{ status: number; atMs: number } | null> {
    try {
      const path = join(this.dir, exitFileName);
      const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      if (!/^[0-9]+\n$/.test(text)) return null;
      return { status: Number(text.trim()), atMs: st.mtimeMs };
    } catch {
      return null;
    }
  }

  async final(): Promise<FinalExit | null> {
    return this.readJson<FinalExit>('exit.json');
  }

  async writeFinal(final: FinalExit): Promise<void> {
    await this.writeJson('exit.json', final);
  }

  private async readJson<T>(name: string): Promise<T | null> {
    try {
      return JSON.parse(await readFile(join(this.dir, name), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  private async writeJson(name: string, value: unknown): Promise<void> {
    const tmp = join(this.dir, `.${name}.${randomHex(4)}`);
    await writeFile(tmp, JSON.stringify(value));
    await rename(tmp, join(this.dir, name));
  }
}

/** Builds ExitInfo from the init's status. */
export function exitInfo(status: number, atMs: number, oomKilled: boolean): ExitInfo {
  return { ...exitFromStatus(status), oomKilled, exitedAt: Math.round(atMs) };
}

/**
 * Calls `onExit` once per run that has ended: at once if the current run already ended, then on
 * each later end. Wakes on file events in the status directory and every `watchPollMs`.
 * `finalExit` must return the current run's exit once it has ended, else null.
 */
export function watchExits(dir: string, finalExit: () => Promise<FinalExit | null>, onExit: (exit: ExitInfo) => void): () => void {
  let reportedRunId: string | null = null;
  let stopped = false;
  let checking = false;
  let again = false;
  const check = async (): Promise<void> => {
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        const final = await finalExit().catch(() => null);
        if (!stopped && final !== null && final.runId !== reportedRunId) {
          reportedRunId = final.runId;
          onExit(final.exit);
        }
      } while (again && !stopped);
    } finally {
      checking = false;
    }
  };
  let watcher: ReturnType<typeof fsWatch> | null = null;
  try {
    watcher = fsWatch(dir, () => void check());
    watcher.on('error', () => undefined);
  } catch {
    // No directory yet (instance not prepared): polling still notices when it appears.
  }
  const timer = setInterval(() => void check(), watchPollMs);
  timer.unref();
  void check();
  return () => {
    stopped = true;
    clearInterval(timer);
    watcher?.close();
  };
}

/** SIGKILL's status as a shell reports it: what an init killed before it could write has exited with. */
const killedStatus = 128 + 9;

/**
 * The current run's exit once it has ended, else null. An init that is gone without having
 * written a status was killed (SIGKILL: the only signal that ends it, or the host went down).
 * The first judgment is stored, so later calls agree even after the cgroup is gone.
 */
export async function currentExit(status: StatusDir, oomKilled: () => Promise<boolean>, nowMs: () => number, isAlive: (pid: number, startTicks?: number) => Promise<boolean>): Promise<FinalExit | null> {
  const run = await status.run();
  if (run === null || run.pid === null) return null;
  const stored = await status.final();
  if (stored !== null && stored.runId === run.runId) return stored;
  let written = await status.initExit();
  if (written === null) {
    if (await isAlive(run.pid, run.pidStartTicks ?? undefined)) return null;
    // The init may have written its status between our two looks.
    written = await status.initExit();
  }
  const exit = written === null ? exitInfo(killedStatus, nowMs(), await oomKilled()) : exitInfo(written.status, written.atMs, await oomKilled());
  const final = { runId: run.runId, exit };
  await status.writeFinal(final);
  return final;
}
