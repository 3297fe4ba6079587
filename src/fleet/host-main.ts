/**
 * One fleet host as its own process: `node src/fleet/host-main.ts --fleet-dir F --host-id ams-1
 * --host-num 1 --region ams --address 127.77.1.1 --registry URL [--seeds a:p,...] [--mesh F]`.
 * On loopback every role listens on `--address`. With `--mesh` (as root, inside the host's
 * network namespace) the agent listens on the underlay `--address`, the state node gossips and
 * peer proxies forward over the host's 6PN address, the proxy answers on port 80 of every
 * address (the anycast one included) and DNS on fdaa::3 port 53. Secrets come
 * from files in the fleet directory, never from the command line. Prints one JSON line
 * `{"id","agent","proxy","state","dns"}` once every role is serving. SIGTERM stops the roles and leaves
 * the machines running for the next start to adopt; SIGINT (what `fleet down` sends) stops the
 * machines too.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DriverName } from '../agent/index.ts';
import { createLogger, systemClock } from '../lib/index.ts';
import { loadMasterKeys } from '../secrets/index.ts';
import { httpRevocationSource, Keyring, mintPlatformToken, RevocationList } from '../tokens/index.ts';
import { defaultDnsAddress } from '../net/index.ts';
import { followApiCertificates } from '../proxy/tls/index.ts';
import { startHost } from './host.ts';
import { followMesh, meshStateTiming, readMeshMember } from './mesh-member.ts';
import { keyringDir, secretKeysFile } from './platform-keys.ts';

const { values } = parseArgs({
  options: {
    'fleet-dir': { type: 'string' },
    'host-id': { type: 'string' },
    'host-num': { type: 'string' },
    region: { type: 'string' },
    address: { type: 'string' },
    registry: { type: 'string' },
    /** The API, to refresh revoked token ids from (the API also pushes them). */
    api: { type: 'string' },
    seeds: { type: 'string', default: '' },
    driver: { type: 'string', default: 'auto' },
    domain: { type: 'string', default: 'aloft.localhost' },
    cpus: { type: 'string' },
    'memory-mb': { type: 'string' },
    /** As root: this host's place in the simulated network (mesh-member.ts); `--address` is then its underlay address. */
    mesh: { type: 'string' },
  },
});

const required = (name: 'fleet-dir' | 'host-id' | 'host-num' | 'region' | 'address' | 'registry'): string => {
  const v = values[name];
  if (v === undefined) {
    process.stderr.write(`fleet host: --${name} is required\n`);
    process.exit(2);
  }
  return v;
};
const secret = async (name: string): Promise<string> => (await readFile(join(required('fleet-dir'), name), 'utf8')).trim();

/** The organization number of `personal`, the first organization of a platform. */
const loopbackDnsOrg = 1;
const hostId = required('host-id');
const logger = createLogger('host', { level: process.env.ALOFT_LOG_LEVEL ?? 'warn' }).child({ host: hostId });
const capacity = values.cpus === undefined || values['memory-mb'] === undefined ? undefined : { cpus: Number(values.cpus), memoryMb: Number(values['memory-mb']) };
// Fed by the API's pushes, and refreshed from the API in case a push was missed (tokens/revocations.ts).
const keyring = await Keyring.load(join(required('fleet-dir'), keyringDir), systemClock);
const revocations = new RevocationList();
if (values.api !== undefined) {
  await revocations.follow(httpRevocationSource(values.api, () => mintPlatformToken(keyring, ['read'], systemClock.now())), logger);
}
const member = values.mesh === undefined ? undefined : await readMeshMember(values.mesh);
const network =
  member === undefined
    ? // On loopback no asker has a 6PN source address, so askers count as the first organization's.
      { bindHost: required('address'), proxyPort: 0, tlsPort: 0, dns: { listen: [{ host: required('address'), port: 0 }], defaultOrg: loopbackDnsOrg }, namePrefix: `h${required('host-num')}` }
    : {
        bindHost: '::',
        proxyPort: 80,
        tlsPort: 443,
        meshHost: member.host.sixpnAddress,
        stateTiming: meshStateTiming(member),
        dns: { listen: [{ host: defaultDnsAddress, port: 53 }] },
        namePrefix: member.host.machinePrefix,
      };
// Certificates and ACME answers from the API; every host shares the platform's internal CA directory.
const tls =
  values.api === undefined
    ? undefined
    : await followApiCertificates({
        caDir: join(required('fleet-dir'), 'tls'),
        domain: values.domain!,
        apiUrl: values.api,
        token: () => mintPlatformToken(keyring, ['read'], systemClock.now()),
        logger: logger.child({ component: 'tls' }),
      });
const host = await startHost({
  dataDir: join(required('fleet-dir'), 'hosts', hostId),
  hostId,
  hostNum: Number(required('host-num')),
  region: required('region'),
  bindHost: network.bindHost,
  internalHost: required('address'),
  ...('meshHost' in network ? { meshHost: network.meshHost, stateTiming: network.stateTiming } : {}),
  // The simulated network's own matrix, when it was given one: `.internal`'s "nearest" follows it.
  ...(member?.file.spec.latency === undefined ? {} : { regionLatency: member.file.spec.latency }),
  ports: { agent: 0, proxy: network.proxyPort, gossip: 0 },
  registry: { url: required('registry') },
  keyring,
  revocations,
  secretKeys: await loadMasterKeys(join(required('fleet-dir'), secretKeysFile)),
  driver: values.driver as DriverName | 'auto',
  domain: values.domain!,
  clusterKey: Buffer.from(await secret('state-key')),
  seeds: values.seeds!.split(',').filter((s) => s !== ''),
  logger,
  namePrefix: network.namePrefix,
  ...(capacity === undefined ? {} : { capacity }),
  dns: network.dns,
  ...(tls === undefined ? {} : { tls: { edge: tls.edge, port: network.tlsPort } }),
});
const mesh = member === undefined ? undefined : await followMesh(host.state, member, logger.child({ component: 'mesh' }));
const dns = host.dnsAddresses.map((a) => `${a.host}:${a.port}`)[0];
process.stdout.write(`${JSON.stringify({ id: host.id, agent: host.agentUrl, proxy: host.proxyUrl, tls: host.tlsUrl, state: host.stateAddress, dns, driver: host.driver })}\n`);

const stop = (stopMachines: boolean): void => {
  revocations.stop();
  mesh?.close();
  void tls?.close();
  void host.stop(stopMachines).then(() => process.exit(0));
};
process.once('SIGTERM', () => stop(false));
process.once('SIGINT', () => stop(true));
