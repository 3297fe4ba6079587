/**
 * Packs a directory into a tar stream, deterministically: entries in sorted order, one fixed
 * mtime, and (by default) root ownership, so the same tree always gives the same layer digest.
 * Hard links are kept as links; sockets are skipped (they cannot live in an image).
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';

export interface TarDirectoryOptions {
  /** Keep the files' numeric owners instead of making everything root's (default false). */
  preserveOwnership?: boolean;
  /** Seconds since the epoch stamped on every entry (default 0, for reproducible layers). */
  mtimeS?: number;
}

/** Directory trees deeper than this are refused: a loop or a mistake, not a root filesystem. */
const depthMax = 128;

export function tarDirectory(root: string, options: TarDirectoryOptions = {}): Readable {
  const pack = tar.pack();
  const mtime = new Date((options.mtimeS ?? 0) * 1000);
  const seenInodes = new Map<string, string>();

  const addEntry = async (relative: string, depth: number): Promise<void> => {
    if (depth > depthMax) throw new Error(`directory tree deeper than ${depthMax} at ${relative}`);
    const full = join(root, relative);
    const info = await lstat(full);
    const base = {
      name: relative,
      mode: info.mode & 0o7777,
      uid: options.preserveOwnership ? info.uid : 0,
      gid: options.preserveOwnership ? info.gid : 0,
      mtime,
    };
    if (info.isDirectory()) {
      if (relative !== '') await entry(pack, { ...base, name: `${relative}/`, type: 'directory' });
      for (const name of (await readdir(full)).sort()) await addEntry(relative === '' ? name : `${relative}/${name}`, depth + 1);
    } else if (info.isSymbolicLink()) {
      await entry(pack, { ...base, type: 'symlink', linkname: await readlink(full) });
    } else if (info.isFile()) {
      const inode = `${info.dev}:${info.ino}`;
      const first = info.nlink > 1 ? seenInodes.get(inode) : undefined;
      if (first !== undefined) {
        await entry(pack, { ...base, type: 'link', linkname: first });
        return;
      }
      if (info.nlink > 1) seenInodes.set(inode, relative);
      const sink = pack.entry({ ...base, type: 'file', size: info.size });
      await pipeline(createReadStream(full), sink);
    } else if (info.isCharacterDevice() || info.isBlockDevice()) {
      const rdev = info.rdev;
      await entry(pack, { ...base, type: info.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: (rdev >> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) });
    } else if (info.isFIFO()) {
      await entry(pack, { ...base, type: 'fifo' });
    }
  };

  addEntry('', 0).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  // tar-stream's streams are streamx streams; expose a node Readable to the rest of the code.
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

function entry(pack: tar.Pack, header: Partial<Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
}
