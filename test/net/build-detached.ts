/**
 * Builds a two-region topology whose relay and wireguard-go run detached, peers the two hosts,
 * prints the topology's prefix and exits — as `aloft fleet up` does before the fleet serves on.
 * `node build-detached.ts PREFIX LOG_DIR`
 */
import { join } from 'node:path';
import { createTopology, generateWireguardKeyPair, hostWireguardOptions, WireguardDevice } from '../../src/net/index.ts';
import { wireguardKeyHex } from '../../src/net/wireguard-keys.ts';
import { uapiSet } from '../../src/net/uapi.ts';

const [prefix, logDir] = process.argv.slice(2);
const topo = await createTopology({ prefix: prefix!, hosts: [{ name: 'a', region: 'ams' }, { name: 'i', region: 'iad' }], logDir: logDir! });
const keys = topo.hosts.map(() => generateWireguardKeyPair());
for (const [n, host] of topo.hosts.entries()) await WireguardDevice.start(hostWireguardOptions(host, keys[n]!.privateKey, { logFile: join(logDir!, `${host.name}-wg.log`) }));
for (const [n, host] of topo.hosts.entries()) {
  const peer = topo.hosts[1 - n]!;
  await uapiSet(host.wireguardIfname, [`public_key=${wireguardKeyHex(keys[1 - n]!.publicKey)}`, `endpoint=${topo.peerEndpoint(host.name, peer.name)}`, `allowed_ip=${peer.sixpnAddress}/128`]);
}
process.stdout.write(`${JSON.stringify({ a: topo.hosts[0]!.netns, i: topo.hosts[1]!.sixpnAddress })}\n`);
