/** Whether the oci driver can run here: root, runc present, and cgroup v1 memory control mounted. */
import { access } from 'node:fs/promises';
import { runCommand } from './command.ts';

let probed: Promise<boolean> | undefined;

/** Probed once per process. */
export function ociRuntimeAvailable(): Promise<boolean> {
  probed ??= (async () => {
    if (process.getuid?.() !== 0) return false;
    try {
      await access('/sys/fs/cgroup/memory/memory.limit_in_bytes');
      await access('/bin/busybox');
      return (await runCommand('runc', ['--version'])).exitCode === 0;
    } catch {
      return false;
    }
  })();
  return probed;
}
