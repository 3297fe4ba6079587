/** Why the build tests cannot run here, or false when they can (root with buildah and debootstrap). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export async function buildToolsMissing(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'builds need root (buildah, debootstrap)';
  for (const tool of ['buildah', 'debootstrap']) {
    const found = await promisify(execFile)('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);
    if (!found) return `${tool} is not installed (scripts/setup.sh installs it)`;
  }
  return false;
}
