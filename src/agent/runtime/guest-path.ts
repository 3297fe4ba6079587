/**
 * Guest paths resolved on the host as the guest would see them: symlinks inside the root
 * filesystem are followed relative to that root (as in a chroot), never to the host's `/`. The
 * image and the running machine control those symlinks, so this is what stops a file the agent
 * writes "into the machine" from landing on the host.
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { PlatformError } from '../../lib/errors.ts';

/** As in the kernel: more symlinks than this in one lookup is a loop. */
const symlinkHopsMax = 40;

/**
 * The host path of `guestPath` inside `rootfs`, following symlinks within the root. The last
 * component is followed too unless `followLast` is false; missing components are allowed.
 */
export async function resolveInRoot(rootfs: string, guestPath: string, followLast = true): Promise<string> {
  let pending = posix.normalize(`/${guestPath}`).split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const hostPath = posix.join(rootfs, ...resolved, part);
    const st = await lstat(hostPath).catch(() => null);
    if (st?.isSymbolicLink() !== true || (!followLast && pending.length === 0)) {
      resolved.push(part);
      continue;
    }
    hops += 1;
    if (hops > symlinkHopsMax) throw new PlatformError('guest_path_loop', `too many symlinks resolving ${guestPath} in the machine's root`);
    const target = await readlink(hostPath);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
  }
  return posix.join(rootfs, ...resolved);
}
