/**
 * Builds a two-region topology whose relay and wireguard-go run detached, seeds the mesh,
 * prints where to reach it and its relay's pid, and exits — as `aloft fleet up` does before the fleet serves on.
 * `node build-detached.ts PREFIX LOG_DIR`
 */
import { join } from 'node:path';
import { createTopology, generateWireguardKeyPair, hostWireguardOptions, seedTopologyMesh, WireguardDevice } from '../../src/net/index.ts';

const [prefix, logDir] = process.argv.slice(2);
const topo = await createTopology({ prefix: prefix!, hosts: [{ name: 'a', region: 'ams' }, { name: 'i', region: 'iad' }], logDir: logDir! });
const keys = topo.hosts.map(() => generateWireguardKeyPair());
for (const [n, host] of topo.hosts.entries()) await WireguardDevice.start(hostWireguardOptions(host, keys[n]!.privateKey, { logFile: join(logDir!, `${host.name}-wg.log`) }));
await seedTopologyMesh(topo.plan, (name) => keys[topo.hosts.findIndex((h) => h.name === name)]!.publicKey);
process.stdout.write(`${JSON.stringify({ a: topo.hosts[0]!.netns, i: topo.hosts[1]!.sixpnAddress, relayPid: topo.relayPid })}\n`);
