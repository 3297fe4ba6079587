/**
 * Who owns a topology prefix on this computer. Everything a topology makes is named after its
 * prefix and building one first removes whatever bears it, so without an owner a second fleet
 * given the same prefix would silently tear down a running one. A marker per prefix under /run
 * (gone at reboot, like the namespaces) names the owner (a fleet's data directory, or the
 * building process), the process that built it and its delay relay. While either process runs,
 * another owner's build is refused; a marker whose processes are gone is stale and taken over.
 * A process is recognised by its pid and start time, so a reused pid does not count as alive.
 */
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AloftError } from '../lib/errors.ts';

export const topologyMarkerDir = '/run/aloft/topologies';

/** A process as the marker names it: pid and start time (clock ticks after boot, /proc/PID/stat). */
export interface ProcessIdentity {
  pid: number;
  startedAt: string;
}

export interface TopologyOwner {
  /** Names the owner in a refusal: `the fleet in DIR`, or the building process. */
  owner: string;
  builder: ProcessIdentity;
  /** The delay relay, once started: a detached one outlives the builder (a fleet's `fleet up`). */
  relay?: ProcessIdentity;
}

/** The owner named when the builder names none: this process and its command line. */
export function thisProcessOwner(): string {
  return `process ${process.pid} (${process.argv.slice(1).join(' ')})`;
}

const markerPath = (prefix: string): string => join(topologyMarkerDir, `${prefix}.json`);

/**
 * Makes `owner` the owner of `prefix`, or throws `topology_in_use` naming the live owner. The
 * same owner may build again (a fleet restarted in its own directory).
 */
export async function claimTopology(prefix: string, owner: string): Promise<void> {
  await mkdir(topologyMarkerDir, { recursive: true });
  const self = processIdentity(process.pid);
  if (self === undefined) throw new Error(`cannot read /proc/${process.pid}/stat`);
  const marker: TopologyOwner = { owner, builder: self };
  for (;;) {
    try {
      await writeMarker(prefix, marker, 'create');
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await readTopologyOwner(prefix);
    if (current !== undefined && current.owner !== owner && ownerAlive(current)) {
      const running = [current.builder, current.relay].filter((p) => p !== undefined && isRunning(p)).map((p) => p!.pid);
      throw new AloftError('topology_in_use', 'config', `the network prefix '${prefix}' belongs to ${current.owner}, which is still running (process ${running.join(', ')}); building here would tear it down`, {
        hint: 'stop it first (a fleet: `aloft fleet down --data-dir DIR` with its directory), or use another prefix (a fleet: another --subnet)',
        details: { prefix, owner: current.owner, pids: running },
      });
    }
    // Stale (its processes are gone), unreadable, or ours: taken over.
    await unlink(markerPath(prefix)).catch(ignoreMissing);
  }
}

/** Records the relay in the marker, so the topology counts as alive while the relay runs. */
export async function recordRelay(prefix: string, pid: number): Promise<void> {
  const current = await readTopologyOwner(prefix);
  const relay = processIdentity(pid);
  if (current === undefined || relay === undefined) return;
  await writeMarker(prefix, { ...current, relay }, 'replace');
}

/**
 * Writes a marker whole, through a temp file: a reader never sees a half-written one, which it
 * would take for a stale marker and tear down a running network. 'create' fails with EEXIST when
 * the marker exists (link() does not replace), as the exclusive create it stands for.
 */
async function writeMarker(prefix: string, marker: TopologyOwner, mode: 'create' | 'replace'): Promise<void> {
  const temp = `${markerPath(prefix)}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(marker)}\n`);
  if (mode === 'replace') {
    await rename(temp, markerPath(prefix));
    return;
  }
  try {
    await link(temp, markerPath(prefix));
  } finally {
    await unlink(temp).catch(ignoreMissing);
  }
}

export async function readTopologyOwner(prefix: string): Promise<TopologyOwner | undefined> {
  try {
    return JSON.parse(await readFile(markerPath(prefix), 'utf8')) as TopologyOwner;
  } catch {
    return undefined;
  }
}

export async function releaseTopology(prefix: string): Promise<void> {
  await unlink(markerPath(prefix)).catch(ignoreMissing);
}

/** Whether the builder or the relay of a marker still runs. */
export function ownerAlive(owner: TopologyOwner): boolean {
  return isRunning(owner.builder) || (owner.relay !== undefined && isRunning(owner.relay));
}

/** The process with this pid, unless there is none or it has exited (a zombie not yet reaped). */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses: 3 (state) … 22 (starttime).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state, startedAt] = [fields[0], fields[19]];
    return startedAt === undefined || state === 'Z' || state === 'X' ? undefined : { pid, startedAt };
  } catch {
    return undefined;
  }
}

function isRunning(p: ProcessIdentity): boolean {
  return processIdentity(p.pid)?.startedAt === p.startedAt;
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
