/**
 * The cgroup v1 side of the oci driver. runc creates `<controller>/<parent>/<machineId>` in every
 * v1 hierarchy and removes the leaf on delete, but leaves the parent; these hosts need emptied
 * parents removed, so destroy does that.
 *
 * OOM: in v1 the memory controller's `memory.oom_control` has an `oom_kill` counter (kernel
 * 4.13+) that counts processes the OOM killer killed in this cgroup. The counter starts at 0 with
 * each run (runc recreates the cgroup) and is read before the cgroup goes away, so a positive
 * value means this run lost a process to the OOM killer. `memory.failcnt` is not used: it counts
 * every time usage touched the limit, which reclaim usually survives.
 */
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const cgroupRoot = '/sys/fs/cgroup';

/** The hierarchies under /sys/fs/cgroup: every v1 controller, `systemd`, and the hybrid v2 `unified`, where runc also makes a cgroup. */
export async function hierarchies(): Promise<string[]> {
  const entries = await readdir(cgroupRoot, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

export function cgroupsPath(parent: string, machineId: string): string {
  return `/${parent}/${machineId}`;
}

/** OOM kills in the machine's memory cgroup for the current run; 0 when the cgroup is gone. */
export async function oomKillCount(parent: string, machineId: string): Promise<number> {
  try {
    const text = await readFile(join(cgroupRoot, 'memory', parent, machineId, 'memory.oom_control'), 'utf8');
    const match = /^oom_kill (\d+)$/m.exec(text);
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** Removes the machine's cgroup in every hierarchy, then the parent where it is now empty. */
export async function removeCgroups(parent: string, machineId: string, keepParent: boolean): Promise<void> {
  for (const h of await hierarchies()) {
    await rmdir(join(cgroupRoot, h, parent, machineId)).catch(ignoreGone);
    if (!keepParent) await rmdir(join(cgroupRoot, h, parent)).catch(ignoreGone);
  }
}

/** Cgroup dirs that exist for the machine or the parent, for leak checks. */
export async function existingCgroups(parent: string, machineId?: string): Promise<string[]> {
  const found: string[] = [];
  for (const h of await hierarchies()) {
    const path = machineId === undefined ? join(cgroupRoot, h, parent) : join(cgroupRoot, h, parent, machineId);
    if ((await readdir(path).catch(() => null)) !== null) found.push(path);
  }
  return found;
}

/** Absent, or (for a parent) still holding other machines: neither is an error here. */
function ignoreGone(err: NodeJS.ErrnoException): void {
  if (err.code === 'ENOENT' || err.code === 'EBUSY' || err.code === 'ENOTEMPTY') return;
  throw err;
}
