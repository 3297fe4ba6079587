/** Whether this host can build images: root (debootstrap, buildah's chroot isolation) and the tools. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Why builds cannot run here, or null when they can. */
export async function missingBuildTools(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'building images needs root (buildah, debootstrap)';
  for (const tool of ['buildah', 'debootstrap']) {
    const found = await promisify(execFile)('sh', ['-c', `command -v ${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) return `${tool} is not installed (apt-get install ${tool}; scripts/setup.sh installs it)`;
  }
  return null;
}
