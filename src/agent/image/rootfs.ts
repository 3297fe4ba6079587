/**
 * Per-machine root filesystems under `<dir>/<machineId>/`. As root it is an overlay mount
 * (`merged`) whose lowerdirs are the image's layer directories, top first, with a private
 * `upper` and `work`; without root it is a merged copy in which regular files are hard links to
 * the layer cache (fast and small; a program that rewrites an image file in place instead of
 * replacing it would change the cache — acceptable for the unprivileged development driver only).
 */
import { chmod, lstat, link, mkdir, readdir, readFile, readlink, rename, rm, symlink, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PlatformError } from '../../lib/errors.ts';
import { mustRun } from '../runtime/command.ts';
import type { LayerMeta } from './unpack.ts';

/** The kernel's limit on mount options (one page); longer lowerdir lists cannot be mounted. */
const mountOptionsBytesMax = 4096;

export interface LayerView {
  fsDir: string;
  meta: LayerMeta;
}

export function mergedDir(dir: string, machineId: string): string {
  return join(dir, machineId, 'merged');
}

/** Mounts an overlay for `machineId` unless it is already mounted; returns the merged path. */
export async function mountOverlay(dir: string, machineId: string, layers: LayerView[]): Promise<string> {
  const base = join(dir, machineId);
  const merged = join(base, 'merged');
  if (await isMountPoint(merged)) return merged;
  for (const sub of ['upper', 'work', 'merged']) await mkdir(join(base, sub), { recursive: true });
  const lower = layers.map((l) => l.fsDir).reverse().join(':');
  const options = `lowerdir=${lower},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`;
  if (options.length >= mountOptionsBytesMax) {
    throw new PlatformError('rootfs_too_many_layers', `overlay options for ${machineId} are ${options.length} bytes, over the kernel's ${mountOptionsBytesMax}`);
  }
  await mustRun('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]);
  return merged;
}

/** Builds a merged copy for `machineId` unless one is complete; returns its path. */
export async function copyLayers(dir: string, machineId: string, layers: LayerView[]): Promise<string> {
  const base = join(dir, machineId);
  const merged = join(base, 'merged');
  if (await isDirectory(merged)) return merged;
  const tmp = join(base, 'merged.tmp');
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const dirModes: { path: string; mode: number }[] = [];
  for (const layer of layers) {
    for (const gone of layer.meta.whiteouts) await rm(join(tmp, gone), { recursive: true, force: true });
    for (const opaque of layer.meta.opaqueDirs) {
      await rm(join(tmp, opaque), { recursive: true, force: true });
      await mkdir(join(tmp, opaque), { recursive: true });
    }
    await copyTree(layer.fsDir, tmp, dirModes);
  }
  dirModes.sort((a, b) => b.path.length - a.path.length);
  // Owner write is kept so that releaseRootfs can always remove the copy.
  for (const { path, mode } of dirModes) await chmod(path, mode | 0o700);
  await rename(tmp, merged);
  return merged;
}

/** Unmounts (if mounted) and removes the machine's directory. Safe if absent. */
export async function removeRootfs(dir: string, machineId: string): Promise<void> {
  const merged = join(dir, machineId, 'merged');
  if (await isMountPoint(merged)) await mustRun('umount', [merged]);
  await rm(join(dir, machineId), { recursive: true, force: true });
}

export async function listMachineDirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** True when `path` is a mount point, read from /proc/self/mountinfo (field 5 is the mount point). */
export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === path);
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Copies `src` over `dst`: hard links for files, recreated symlinks, directories merged. */
async function copyTree(src: string, dst: string, dirModes: { path: string; mode: number }[]): Promise<void> {
  const stack: string[] = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    for (const entry of await readdir(join(src, rel), { withFileTypes: true })) {
      const from = join(src, rel, entry.name);
      const to = join(dst, rel, entry.name);
      const existing = await lstat(to).catch(() => null);
      if (entry.isDirectory()) {
        if (existing !== null && !existing.isDirectory()) await rm(to, { force: true });
        if (existing === null || !existing.isDirectory()) await mkdir(to);
        dirModes.push({ path: to, mode: (await lstat(from)).mode & 0o7777 });
        stack.push(join(rel, entry.name));
        continue;
      }
      if (existing !== null) await rm(to, { recursive: true, force: true });
      if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
      else if (entry.isFile()) await link(from, to).catch(() => copyFile(from, to));
      // Overlay whiteouts and device nodes are not copied: the copy applies whiteouts from meta.
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null))?.isDirectory() ?? false;
}
