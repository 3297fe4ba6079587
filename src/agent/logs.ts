import { open, stat } from 'node:fs/promises';

/** Bytes read from the end of a log file to find its last lines; bounds the cost of a tail. */
export const logTailBytesMax = 64 * 1024;

/** The last `lines` lines of a machine's log file (empty when there is none yet). */
export async function readLogTail(path: string, lines: number): Promise<string[]> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return [];
  }
  const length = Math.min(size, logTailBytesMax);
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const all = buf.toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    // The first line may be cut in the middle when the read did not start at a line boundary.
    if (length < size) all.shift();
    return all.slice(-lines);
  } finally {
    await handle.close();
  }
}
