import { MachineNetworks } from '../net/index.ts';
import type { MachineNetworking } from './host-runtime.ts';

/** Each machine in its own network namespace with a veth to the host (root only). */
export function namespaceNetworking(networks: MachineNetworks, hostNum: number): MachineNetworking {
  return {
    async attach(machineId, orgNum) {
      const n = await networks.attachMachine(machineId, { org: orgNum, hostNum });
      return { netnsPath: n.netnsPath, ipv4: n.ipv4, ipv6: n.ipv6 };
    },
    detach: (machineId) => networks.detachMachine(machineId),
  };
}

/**
 * No isolation (the process driver): machines share the host's network and the proxy reaches
 * them on loopback. Two machines listening on one port collide — the price of running unprivileged.
 */
export function hostNetworking(): MachineNetworking {
  return {
    async attach() {
      return { ipv4: '127.0.0.1', ipv6: '::1' };
    },
    async detach() {},
  };
}
