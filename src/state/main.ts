/**
 * Runs one state node from flags (or ALOFT_STATE_* environment variables):
 *   node src/state/main.ts --data DIR --key HEX --port 7000 --http-port 8080 --seeds 127.0.0.1:7001,...
 * Prints one JSON line {"id","address","http"} on stdout once it is serving.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/log.ts';
import { openState } from './index.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: process.env.ALOFT_STATE_DATA },
    key: { type: 'string', default: process.env.ALOFT_STATE_KEY },
    host: { type: 'string', default: process.env.ALOFT_STATE_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.ALOFT_STATE_PORT ?? '0' },
    'http-port': { type: 'string', default: process.env.ALOFT_STATE_HTTP_PORT ?? '0' },
    seeds: { type: 'string', default: process.env.ALOFT_STATE_SEEDS ?? '' },
    schema: { type: 'string', default: process.env.ALOFT_STATE_SCHEMA },
  },
});

const log = createLogger('state');
if (values.data === undefined || values.key === undefined) {
  log.error('--data DIR and --key HEX (the cluster key, at least 32 hex characters) are required');
  process.exit(2);
}
const state = await openState({
  dataDir: values.data,
  clusterKey: Buffer.from(values.key, 'hex'),
  host: values.host!,
  port: Number(values.port),
  httpPort: Number(values['http-port']),
  seeds: values.seeds!.split(',').filter((s) => s.length > 0),
  ...(values.schema === undefined ? {} : { schemaPath: values.schema }),
  log,
});
process.stdout.write(`${JSON.stringify({ id: state.id, address: state.address, http: state.httpUrl })}\n`);
const shutdown = (): void => {
  void state.close().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
