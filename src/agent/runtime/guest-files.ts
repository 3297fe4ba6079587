/** Files the drivers place in a machine's root before it starts: secrets and values, resolv.conf, hosts. */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { randomHex } from '../../lib/ids.ts';
import type { InstanceSpec } from './driver.ts';
import { resolveInRoot } from './guest-path.ts';

/**
 * Writes `content` at `guestPath` inside `rootfs` (parents created, symlinks resolved inside
 * the root, an existing symlink at the path replaced rather than followed), atomically by rename.
 */
export async function writeGuestFile(rootfs: string, guestPath: string, content: Buffer | string, mode: number): Promise<void> {
  const hostPath = await resolveInRoot(rootfs, guestPath, false);
  await mkdir(posix.dirname(hostPath), { recursive: true });
  const tmp = `${hostPath}.aloft-${randomHex(4)}`;
  try {
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    await rename(tmp, hostPath);
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function writeSpecFiles(spec: InstanceSpec): Promise<void> {
  for (const file of spec.files) await writeGuestFile(spec.rootfsPath, file.guestPath, file.content, file.mode);
}

/** /etc/hosts and /etc/resolv.conf for a machine with its own network namespace. */
export async function writeNetworkFiles(spec: InstanceSpec, nameservers: string[]): Promise<void> {
  const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `127.0.1.1\t${spec.hostname}`, ''].join('\n');
  await writeGuestFile(spec.rootfsPath, '/etc/hosts', hosts, 0o644);
  const resolv = [...nameservers.map((ns) => `nameserver ${ns}`), 'options ndots:0', ''].join('\n');
  await writeGuestFile(spec.rootfsPath, '/etc/resolv.conf', resolv, 0o644);
}
