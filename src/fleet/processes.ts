/**
 * The fleet's processes: each role set (the control host, every host) runs detached from the
 * command that started it, logs to a file in the fleet directory, and announces its addresses
 * with one JSON line on stdout. Processes are recorded by pid in fleet.json so that `fleet down`
 * (or the next `fleet up`, after a crash) can find and end them.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PlatformError, sleep } from '../lib/index.ts';

/** How long a process may take to announce itself before the start counts as failed. */
export const processStartTimeoutMs = 60_000;
/** How long a process gets to stop after SIGTERM before it is killed. */
export const processStopTimeoutMs = 10_000;

export interface Spawned<T> {
  pid: number;
  announced: T;
}

/**
 * Starts `script` (a file of this folder) detached, tells `started` its pid at once (so it can be
 * recorded before anything else can fail), and resolves with its announcement line.
 */
export async function spawnRole<T>(
  fleetDir: string,
  name: string,
  script: string,
  args: string[],
  started: (pid: number) => Promise<void>,
  /** Wraps the command line, e.g. to run it inside a network namespace (the wrapper must exec it, keeping the pid). */
  wrap: (argv: string[]) => string[] = (argv) => argv,
): Promise<Spawned<T>> {
  const logs = join(fleetDir, 'logs');
  await mkdir(logs, { recursive: true });
  const logPath = join(logs, `${name}.log`);
  const logFd = openSync(logPath, 'a');
  const [command, ...argv] = wrap([process.execPath, fileURLToPath(new URL(script, import.meta.url)), ...args]);
  const child = spawn(command!, argv, {
    detached: true,
    stdio: ['ignore', 'pipe', logFd],
    env: { ...process.env, ALOFT_FLEET_DIR: fleetDir },
  });
  closeSync(logFd);
  try {
    if (child.pid === undefined) throw new Error('could not be spawned');
    await started(child.pid);
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${processStartTimeoutMs} ms`)), processStartTimeoutMs);
      createInterface({ input: child.stdout! }).once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${signal ?? code}`));
      });
      child.once('error', reject);
    });
    child.stdout!.destroy();
    child.unref();
    return { pid: child.pid!, announced: JSON.parse(line) as T };
  } catch (err) {
    child.kill('SIGKILL');
    throw new PlatformError('fleet_start_failed', `${name} did not start: ${(err as Error).message}`, {
      details: { role: name, log: logPath },
      hint: `read ${logPath}; then \`aloft fleet down\` and try again`,
    });
  }
}

/** Whether `pid` is alive and is one of this fleet's processes (pids are reused after exit). */
export function isFleetProcess(pid: number, fleetDir: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`ALOFT_FLEET_DIR=${fleetDir}`);
  } catch {
    return false;
  }
}

/** Ends the fleet's processes: SIGTERM (or `signal`), then SIGKILL for those still alive after the timeout. */
export async function endProcesses(pids: readonly number[], fleetDir: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const alive = (): number[] => pids.filter((pid) => isFleetProcess(pid, fleetDir));
  for (const pid of alive()) process.kill(pid, signal);
  const deadline = performance.now() + processStopTimeoutMs;
  while (alive().length > 0 && performance.now() < deadline) await sleep(50);
  for (const pid of alive()) process.kill(pid, 'SIGKILL');
  while (alive().length > 0) await sleep(20);
}
