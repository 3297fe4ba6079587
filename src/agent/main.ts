/**
 * Runs one host's agent as its own process: `node src/agent/main.ts --data-dir D --keyring K
 * --registry URL [--api URL]`. `--keyring` is the platform keyring (a directory of 0600 key
 * files; see tokens/keyring.ts): the agent verifies every request's token with it and mints its
 * own short-lived pull tokens. With `--api`, revoked token ids are refreshed from the API every
 * few seconds (the API also pushes them). Prints `{"url": ...}` on stdout once listening. Used by the crash tests,
 * which set ALOFT_AGENT_CRASH_AT=<kind>:<step>:<before|after> to have the process kill itself
 * with SIGKILL at that step boundary. (Fleet hosts run every role of a host: src/fleet/host-main.ts.)
 */
import { parseArgs } from 'node:util';
import { createLogger, systemClock } from '../lib/index.ts';
import { httpRevocationSource, Keyring, mintPlatformToken, RevocationList } from '../tokens/index.ts';
import { startHostAgent } from './host-agent.ts';
import type { DriverName } from './runtime-factory.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string', default: '0' },
    keyring: { type: 'string' },
    api: { type: 'string' },
    'host-id': { type: 'string', default: 'host-1' },
    'host-num': { type: 'string', default: '1' },
    region: { type: 'string', default: 'dev' },
    registry: { type: 'string' },
    driver: { type: 'string', default: 'auto' },
    'name-prefix': { type: 'string' },
  },
});

const required = (name: 'data-dir' | 'keyring' | 'registry'): string => {
  const v = values[name];
  if (v === undefined) {
    process.stderr.write(`agent: --${name} is required\n`);
    process.exit(2);
  }
  return v;
};

const crashAt = process.env.ALOFT_AGENT_CRASH_AT;
const logger = createLogger('agent');
const keyring = await Keyring.load(required('keyring'), systemClock);
const revocations = new RevocationList();
if (values.api !== undefined) {
  const source = httpRevocationSource(values.api, () => mintPlatformToken(keyring, ['read'], systemClock.now()));
  await revocations.follow(source, logger);
}
const host = await startHostAgent(
  {
    dataDir: required('data-dir'),
    hostId: values['host-id']!,
    hostNum: Number(values['host-num']),
    region: values.region!,
    registry: { url: required('registry') },
    driver: values.driver as DriverName | 'auto',
    keyring,
    revocations,
    logger,
    ...(values['name-prefix'] === undefined ? {} : { namePrefix: values['name-prefix'] }),
    ...(crashAt === undefined
      ? {}
      : {
          crashHook: (point: string) => {
            if (point === crashAt) process.kill(process.pid, 'SIGKILL');
          },
        }),
  },
  Number(values.port),
  '127.0.0.1',
);
process.stdout.write(`${JSON.stringify({ url: host.url })}\n`);

const stop = (): void => {
  // A host agent going down leaves its machines running; the next agent adopts them.
  revocations.stop();
  void host.stop(false).then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
