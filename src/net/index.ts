/**
 * The private network's public surface: the 6PN address plan, per-machine network namespaces,
 * WireGuard (keys, wireguard-go devices, the mesh kept in sync with the state layer), isolation
 * between organizations, and the simulated multi-region network that `aloft fleet up` runs on.
 *
 * How a fleet composes them (as root; `topologyPrerequisites()` says what is missing otherwise):
 * 1. `createTopology({ prefix, hosts, clients, logDir, rootLink })` builds the namespaces, the
 *    isolation table in each host and the delay relay (detached, with `logDir`).
 * 2. Per host: `generateWireguardKeyPair()`, then `WireguardDevice.start(hostWireguardOptions(host,
 *    privateKey, { logFile }))`; then `seedTopologyMesh(topology.plan, publicKeyOf)` so hosts reach
 *    each other over 6PN before their first gossip.
 * 3. Each host's processes run inside its namespace via `hostCommand(host, argv)`: the state
 *    node gossips on `host.sixpnAddress` (so it gets the inter-region delay), the agent uses
 *    `hostNum: host.hostNum` and `namePrefix: host.machinePrefix` (its machines are enrolled in the
 *    isolation table automatically), DNS serves on fdaa::3, and `meshFromState(state, { hostId,
 *    ifname: host.wireguardIfname, publicKey, endpoint: host.wireguardEndpoint, sixpnAddress:
 *    host.sixpnAddress, peerEndpoint: topologyEndpointResolver(planTopology(spec), host.name) })`
 *    keeps the peers in sync with the `hosts` and `machines` tables.
 * 4. `destroyTopology(prefix)` ends it all, from any process, also after a crash.
 */
export {
  machineAddresses,
  sixpnAddress,
  orgPrefix,
  orgHostPrefix,
  parseSixpn,
  slotOfIpv4,
  expandIpv6,
  formatIpv6,
  hostSixpnAddress,
  orgNumberMax,
  hostNumberMax,
  slotCountMax,
  ipv4PoolBase,
  ipv4PoolCidr,
  ipv4PrefixLength,
  ipv6LinkPrefixLength,
  platformOrg,
  defaultDnsAddress,
  sixpnRange,
  type MachineAddresses,
} from './address-plan.ts';
export {
  MachineNetworks,
  hasRootNetworking,
  type MachineNetworksOptions,
  type AttachOptions,
  type MachineNetwork,
  type ExistingMachineNetwork,
} from './machine-networks.ts';
export { generateWireguardKeyPair, wireguardPublicKey, isWireguardKey, type WireguardKeyPair } from './wireguard-keys.ts';
export { WireguardDevice, type WireguardOptions } from './wireguard.ts';
export { uapiGet, uapiSocketPath, type WireguardStatus, type WireguardPeerStatus } from './uapi.ts';
export { meshFromState, meshPeers, type Mesh, type MeshOptions, type MeshPeer, type MeshHostRow } from './mesh.ts';
export { installIsolation, isolationRuleset, isolationTable, type IsolationOptions } from './isolation.ts';
export { defaultLatencyMatrix, knownRegionRttMs, regionRttMs, nearestRegion, type LatencyMatrix } from './latency.ts';
export { DelayRelay, relayQueueDatagramsMax, type RelayPair, type RelayEndpoint, type RelayCounters, type DelayRelayOptions } from './delay-relay.ts';
export {
  createTopology,
  destroyTopology,
  planTopology,
  hostWireguardOptions,
  planPeerEndpoint,
  hostCommand,
  topologyPrerequisites,
  underlayIfname,
  wireguardListenPort,
  type Topology,
  type TopologySpec,
  type TopologyHost,
  type TopologyClient,
  type TopologyPlan,
} from './topology.ts';
export { seedTopologyMesh, topologyEndpointResolver } from './topology-mesh.ts';
