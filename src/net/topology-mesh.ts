/**
 * Joining a topology's hosts into the WireGuard mesh.
 *
 * The state layer distributes keys over the mesh itself when hosts gossip on their 6PN
 * addresses, so the mesh must exist before the first gossip: whoever builds the fleet knows
 * every host's public key and seeds each interface with all the others (`seedTopologyMesh`).
 * From then on `meshFromState` keeps the peers in sync, with `topologyEndpointResolver` sending
 * traffic for other regions through the delay relay.
 */
import { orgHostPrefix, parseSixpn } from './address-plan.ts';
import type { MeshHostRow } from './mesh.ts';
import { planPeerEndpoint, type TopologyPlan } from './topology.ts';
import { uapiSet } from './uapi.ts';
import { wireguardKeyHex } from './wireguard-keys.ts';

/**
 * For `meshFromState`'s `peerEndpoint` on host `from`: a peer whose published endpoint is a
 * topology host's is reached the way the topology says (the relay across regions); any other
 * peer at its published endpoint.
 */
export function topologyEndpointResolver(plan: TopologyPlan, from: string): (peer: MeshHostRow) => string {
  const byEndpoint = new Map(plan.hosts.map((h) => [h.wireguardEndpoint, h.name]));
  return (peer) => {
    const name = byEndpoint.get(peer.endpoint);
    return name === undefined ? peer.endpoint : planPeerEndpoint(plan, from, name);
  };
}

/** Gives every host's interface every other host as a peer (its own /64), so hosts reach each other over 6PN at once. */
export async function seedTopologyMesh(plan: TopologyPlan, publicKeyOf: (hostName: string) => string): Promise<void> {
  await Promise.all(
    plan.hosts.map((host) => {
      const lines = plan.hosts
        .filter((peer) => peer.name !== host.name)
        .flatMap((peer) => [
          `public_key=${wireguardKeyHex(publicKeyOf(peer.name), `public key of ${peer.name}`)}`,
          `endpoint=${planPeerEndpoint(plan, host.name, peer.name)}`,
          `allowed_ip=${hostPrefix(peer.sixpnAddress)}`,
        ]);
      return lines.length === 0 ? undefined : uapiSet(host.wireguardIfname, lines);
    }),
  );
}

function hostPrefix(sixpnAddress: string): string {
  const { org, hostNum } = parseSixpn(sixpnAddress)!;
  return orgHostPrefix(org, hostNum);
}
