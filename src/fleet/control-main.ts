/**
 * The control host of `aloft fleet up` as its own process: `node src/fleet/control-main.ts
 * --fleet-dir F --address 127.77.0.1 --region ams [--mesh F]`. Prints one JSON line `{"api","registry","state"}`
 * once serving; SIGTERM or SIGINT stops it. Hosts keep serving without it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/index.ts';
import { startControl } from './control.ts';
import { followMesh, meshStateTiming, readMeshMember } from './mesh-member.ts';

const { values } = parseArgs({
  options: {
    'fleet-dir': { type: 'string' },
    address: { type: 'string' },
    region: { type: 'string' },
    domain: { type: 'string', default: 'aloft.localhost' },
    /** As root: the control host's place in the simulated network (mesh-member.ts); its state node gossips over 6PN. */
    mesh: { type: 'string' },
  },
});
if (values['fleet-dir'] === undefined || values.address === undefined || values.region === undefined) {
  process.stderr.write('fleet control: --fleet-dir, --address and --region are required\n');
  process.exit(2);
}

const logger = createLogger('control', { level: process.env.ALOFT_LOG_LEVEL ?? 'warn' });
const member = values.mesh === undefined ? undefined : await readMeshMember(values.mesh);
const control = await startControl({
  dataDir: values['fleet-dir'],
  bindHost: values.address,
  ports: { api: 0, registry: 0 },
  defaultRegion: values.region,
  logger,
  // The internal CA serves names under the domain; certificates for others need --acme (aloft up).
  certificates: { domain: values.domain!, proxyUrls: () => [] },
  state: {
    clusterKey: Buffer.from((await readFile(join(values['fleet-dir'], 'state-key'), 'utf8')).trim()),
    ...(member === undefined ? {} : { host: member.host.sixpnAddress, timing: meshStateTiming(member) }),
  },
});
const mesh = member === undefined || control.state === undefined ? undefined : await followMesh(control.state, member, logger.child({ component: 'mesh' }));
process.stdout.write(`${JSON.stringify({ api: control.apiUrl, registry: control.registryUrl, state: control.stateAddress })}\n`);

const stop = (): void => {
  mesh?.close();
  void control.stop().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
