/**
 * Attaches machines the way a host's agent does, from inside the host's network namespace
 * (started with `hostCommand`): `node attach-in-namespace.ts DATA_DIR PREFIX HOST_NUM ID:ORG…`.
 * Prints the networks as JSON. With `--detach`, detaches the ids instead.
 */
import { MachineNetworks } from '../../src/net/index.ts';

const [dataDir, namePrefix, hostNumText, ...rest] = process.argv.slice(2);
const detach = rest[0] === '--detach';
const nets = new MachineNetworks({ dataDir: dataDir!, namePrefix: namePrefix! });
const out = [];
for (const arg of detach ? rest.slice(1) : rest) {
  const [id, org] = arg.split(':');
  if (detach) await nets.detachMachine(id!);
  else out.push(await nets.attachMachine(id!, { org: Number(org), hostNum: Number(hostNumText) }));
}
process.stdout.write(`${JSON.stringify(out)}\n`);
