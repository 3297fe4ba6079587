/**
 * A fleet process's place in the simulated network (as root): which topology host it is, and
 * the WireGuard mesh it keeps in sync with the state layer. The fleet launcher writes one
 * `<fleetDir>/mesh/<name>.json` per host after starting that host's wireguard-go; the process
 * reads it, re-plans the topology from the same spec (planning is pure), and follows the hosts
 * table so its peers stay current, with other regions reached through the delay relay.
 */
import { readFile } from 'node:fs/promises';
import { defaultLatencyMatrix, meshFromState, planTopology, regionRttMs, topologyEndpointResolver, type Mesh, type TopologyHost, type TopologySpec } from '../net/index.ts';
import type { Logger } from '../lib/index.ts';
import { defaultTiming, type StateHandle, type StateTiming } from '../state/index.ts';

export interface MeshMemberFile {
  /** The topology's spec, without its logger. */
  spec: Omit<TopologySpec, 'logger'>;
  /** This process's host in the topology. */
  name: string;
  /** Its id in the `hosts` table (the fleet's host id, or `control`). */
  hostId: string;
  /** The public key of its wireguard-go (the private key stays with the daemon). */
  publicKey: string;
}

export interface MeshMember {
  host: TopologyHost;
  file: MeshMemberFile;
}

/**
 * SWIM timing for the simulated network: a probe must outlive the slowest round trip between
 * regions (plus room for a loaded computer), or far hosts are suspected while healthy.
 */
export function meshStateTiming(member: MeshMember): Partial<StateTiming> {
  const latency = member.file.spec.latency ?? defaultLatencyMatrix;
  const regions = [...new Set(member.file.spec.hosts.map((h) => h.region))];
  const rttMaxMs = Math.max(...regions.flatMap((a) => regions.map((b) => regionRttMs(latency, a, b))));
  return { probeTimeoutMs: Math.max(defaultTiming.probeTimeoutMs, 2 * rttMaxMs + probeSlackMs) };
}

/** Added to twice the slowest round trip for a probe's timeout. */
const probeSlackMs = 200;

export async function readMeshMember(path: string): Promise<MeshMember> {
  const file = JSON.parse(await readFile(path, 'utf8')) as MeshMemberFile;
  const host = planTopology(file.spec).hosts.find((h) => h.name === file.name);
  if (host === undefined) throw new Error(`${path} names host '${file.name}', which its topology does not have`);
  return { host, file };
}

/** Publishes this host's key and endpoint and keeps the interface's peers following the hosts table. */
export function followMesh(state: StateHandle, member: MeshMember, logger: Logger): Promise<Mesh> {
  return meshFromState(state, {
    hostId: member.file.hostId,
    ifname: member.host.wireguardIfname,
    publicKey: member.file.publicKey,
    endpoint: member.host.wireguardEndpoint,
    sixpnAddress: member.host.sixpnAddress,
    peerEndpoint: topologyEndpointResolver(planTopology(member.file.spec), member.host.name),
    logger,
  });
}
