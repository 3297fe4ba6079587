/**
 * Runs buildah with storage that belongs to the platform: images, layers and containers live
 * under `<dataDir>/build/` (not /var/lib/containers), and buildah's temp files under a directory
 * the caller removes, so a platform (or a test) that deletes its data directory leaves nothing.
 *
 * Measured on our hosts (root, cgroup v1): `--isolation chroot` works; `oci` fails with the
 * default crun ("cgroups in hybrid mode not supported") and works only with `--runtime runc`.
 * Chroot isolation needs no cgroups and shares the host network, which `RUN npm ci` needs.
 * The overlay storage driver works on ext4 and leaves no mounts behind after a build; vfs copies
 * every layer whole for every step, which is slow with a 120 MB Node.js binary in the base.
 */
import { join } from 'node:path';
import { runStreaming, type StreamedResult } from './run-streaming.ts';

export interface BuildahEnv {
  /** Storage root (`--root`), run root (`--runroot`) and driver. */
  root: string;
  runRoot: string;
  driver: 'overlay' | 'vfs';
  /** Buildah's own temp files (TMPDIR), removed by the caller after the run. */
  tmpDir: string;
}

/** Where a platform whose data lives in `dataDir` keeps its build storage. */
export function buildStorage(dataDir: string): Pick<BuildahEnv, 'root' | 'runRoot' | 'driver'> {
  return { root: join(dataDir, 'build', 'storage'), runRoot: join(dataDir, 'build', 'run'), driver: 'overlay' };
}

/**
 * Runs `buildah <args>` with the storage options in front; every output line goes to `onLine`
 * as it arrives. Resolves with the exit code (never rejects for a non-zero exit).
 */
export async function runBuildah(env: BuildahEnv, args: string[], onLine: (line: string) => void = () => undefined): Promise<StreamedResult> {
  return runStreaming('buildah', ['--root', env.root, '--runroot', env.runRoot, '--storage-driver', env.driver, ...args], {
    env: { ...process.env, TMPDIR: env.tmpDir, BUILDAH_ISOLATION: 'chroot' },
    onLine,
    installHint: 'apt-get install buildah (scripts/setup.sh installs it)',
  });
}
