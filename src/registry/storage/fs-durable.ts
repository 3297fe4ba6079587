/** Small file-system helpers for writes that must survive a crash whole or not at all. */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Flushes a file's data to disk. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory, so a rename or create inside it survives a crash. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Moves a fully written, fsynced file into place atomically and makes the rename durable. */
export async function renameDurable(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
  await fsyncDir(dirname(to));
}

/**
 * Writes a small file atomically: readers see the old content or the new, never a mix.
 * `tempPath` must be on the same file system as `path` and unique to this write.
 */
export async function writeFileAtomic(path: string, tempPath: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(tempPath), { recursive: true });
  const handle = await open(tempPath, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tempPath, { force: true });
    throw err;
  }
  await handle.close();
  await renameDurable(tempPath, path);
}

export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
