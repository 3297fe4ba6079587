/** Reading processes from /proc: liveness that treats zombies as dead and survives pid reuse. */
import { readFile } from 'node:fs/promises';

export interface ProcInfo {
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot (field 22); with the pid it names one process for its lifetime. */
  startTicks: number;
}

export async function procInfo(pid: number): Promise<ProcInfo | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), startTicks: Number(fields[19]) };
  } catch {
    return null;
  }
}

/** True while `pid` runs (zombies count as exited); with `startTicks`, only if it is still the same process. */
export async function isAlive(pid: number, startTicks?: number): Promise<boolean> {
  const info = await procInfo(pid);
  if (info === null || info.state === 'Z' || info.state === 'X') return false;
  return startTicks === undefined || info.startTicks === startTicks;
}

/** Direct children of `pid`. */
export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim() === '' ? [] : text.trim().split(' ').map(Number);
  } catch {
    return [];
  }
}

/** The process's argv joined by NULs ('' once it is gone). */
export async function cmdline(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
}
