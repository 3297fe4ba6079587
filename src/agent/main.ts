/**
 * Runs one host's agent as its own process: `node src/agent/main.ts --data-dir D --token T
 * --registry URL`. Prints `{"url": ...}` on stdout once listening. Used by `aloft fleet` hosts
 * and by the crash tests, which set ALOFT_AGENT_CRASH_AT=<kind>:<step>:<before|after> to have
 * the process kill itself with SIGKILL at that step boundary.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/index.ts';
import { RegistryClient } from '../registry/index.ts';
import { Agent } from './agent.ts';
import { detectHostCapacity } from './capacity.ts';
import { createHostRuntime, type DriverName } from './runtime-factory.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string', default: '0' },
    token: { type: 'string' },
    'host-id': { type: 'string', default: 'host-1' },
    'host-num': { type: 'string', default: '1' },
    region: { type: 'string', default: 'dev' },
    registry: { type: 'string' },
    'registry-token': { type: 'string' },
    driver: { type: 'string', default: 'auto' },
    'name-prefix': { type: 'string' },
  },
});

const required = (name: 'data-dir' | 'token' | 'registry'): string => {
  const v = values[name];
  if (v === undefined) {
    process.stderr.write(`agent: --${name} is required\n`);
    process.exit(2);
  }
  return v;
};

const logger = createLogger('agent');
const crashAt = process.env.ALOFT_AGENT_CRASH_AT;
const source = new RegistryClient({ url: required('registry'), credentials: { password: values['registry-token'] ?? required('token') } });
const { runtime } = await createHostRuntime({
  dataDir: required('data-dir'),
  driver: values.driver as DriverName | 'auto',
  source,
  defaultRegistry: new URL(required('registry')).host,
  hostNum: Number(values['host-num']),
  logger,
  ...(values['name-prefix'] === undefined ? {} : { namePrefix: values['name-prefix'] }),
});
const agent = new Agent({
  dataDir: required('data-dir'),
  hostId: values['host-id']!,
  region: values.region!,
  capacity: detectHostCapacity(),
  runtime,
  token: required('token'),
  logger,
  ...(crashAt === undefined
    ? {}
    : {
        crashHook: (point: string) => {
          if (point === crashAt) process.kill(process.pid, 'SIGKILL');
        },
      }),
});
const url = await agent.start(Number(values.port));
process.stdout.write(`${JSON.stringify({ url })}\n`);

const stop = (): void => {
  // A host agent going down leaves its machines running; the next agent adopts them.
  void agent.stop(false).then(() => source.close()).then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
