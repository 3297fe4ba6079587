/** Where builds keep things across runs, and a small file test. */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Downloads worth keeping across platforms and test runs (the debootstrap root filesystem, the
 * npm tarball): `ALOFT_CACHE_DIR`, else `$XDG_CACHE_HOME/aloft`, else `~/.cache/aloft`.
 */
export function defaultCacheDir(): string {
  const explicit = process.env.ALOFT_CACHE_DIR;
  if (explicit !== undefined && explicit !== '') return explicit;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'aloft');
}

export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
