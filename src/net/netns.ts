/**
 * Named network namespaces (`ip netns`): listing, the processes inside, and running a command
 * inside one. Shared by the topology and its teardown.
 */
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { mustRun, runCommand } from './command.ts';

export const netnsDir = '/run/netns';
/** Processes killed with SIGKILL are gone within milliseconds; a zombie parent may hold them longer. */
const killWaitMs = 3_000;

export async function listNetns(): Promise<string[]> {
  return (await readdir(netnsDir).catch(() => [] as string[])).sort();
}

/** Pids of the processes whose network namespace is `netns`. */
export async function netnsPids(netns: string): Promise<number[]> {
  const result = await runCommand('ip', ['netns', 'pids', netns]);
  if (result.exitCode !== 0) return [];
  return result.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

/** Runs `command args…` inside `netns` and fails unless it exits 0. */
export function mustRunIn(netns: string, command: string, args: string[], input?: string): Promise<string> {
  return mustRun('ip', ['netns', 'exec', netns, command, ...args], input);
}

/**
 * Sets sysctls (`net.ipv4.ip_forward=1`) inside a namespace in one process, by writing
 * /proc/sys (whose net part follows the writer's namespace), so procps is not needed.
 */
export function setSysctls(netns: string, settings: readonly string[]): Promise<string> {
  const writes = settings.map((setting) => {
    const match = /^([a-z0-9_.]+)=([0-9]+)$/.exec(setting);
    if (match === null) throw new Error(`sysctl setting '${setting}' is not key=number`);
    return `echo ${match[2]} > /proc/sys/${match[1]!.replaceAll('.', '/')}`;
  });
  return mustRunIn(netns, 'sh', ['-ec', writes.join('\n')]);
}

/** SIGKILLs every pid and waits until they are gone (or `killWaitMs` passed). */
export async function killAndWait(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = performance.now() + killWaitMs;
  while (pids.some(isAlive) && performance.now() < deadline) await sleep(20);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
