/** The private network's public surface: the address plan and per-machine network namespaces. */
export {
  machineAddresses,
  sixpnAddress,
  orgPrefix,
  orgHostPrefix,
  parseSixpn,
  slotOfIpv4,
  expandIpv6,
  formatIpv6,
  orgNumberMax,
  hostNumberMax,
  slotCountMax,
  ipv4PoolBase,
  ipv4PrefixLength,
  ipv6LinkPrefixLength,
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
