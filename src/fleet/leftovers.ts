/**
 * What a fleet's hosts can leave behind when they die without stopping (SIGKILL, a crash):
 * machine processes still running inside the fleet directory, and mounts of machines' root
 * filesystems under it. Found by looking, not by trusting records, so a crash at any point is
 * cleaned up.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { sep } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '../lib/index.ts';

const run = promisify(execFile);
const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(dir + sep);

/** Processes whose working directory or root is inside `dir` (this process excepted). */
export function processesInside(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (inside(readlinkSync(`/proc/${entry}/cwd`), dir) || inside(readlinkSync(`/proc/${entry}/root`), dir)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** Mount points inside `dir`, deepest first (so they can be unmounted in order). */
export function mountsInside(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && inside(unescapeMountPath(p), dir))
    .map(unescapeMountPath);
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Kills what runs inside `dir` and unmounts what is mounted inside it. */
export async function removeLeftovers(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const pids = processesInside(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(100);
  }
  for (const point of mountsInside(dir)) {
    await run('umount', ['-l', point]).catch(() => undefined);
  }
}

/** mountinfo escapes spaces, tabs, newlines and backslashes as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
