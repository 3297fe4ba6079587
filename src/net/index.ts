/**
 * The private network's public surface: the 6PN address plan, per-machine network namespaces,
 * WireGuard (keys, wireguard-go devices, the mesh kept in sync with the state layer), isolation
 * between organizations, and the simulated multi-region network that `aloft fleet up` runs on.
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
export { defaultLatencyMatrix, regionRttMs, nearestRegion, type LatencyMatrix } from './latency.ts';
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
