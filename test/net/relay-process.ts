import { readFileSync } from 'node:fs';

/** Whether `pid` is (still) a delay relay: the process and its command line, not a reused pid. */
export function isRelayRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('delay-relay-main');
  } catch {
    return false;
  }
}
