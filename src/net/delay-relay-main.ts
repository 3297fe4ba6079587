/**
 * The delay relay as its own process, started inside the topology's core namespace:
 * `node delay-relay-main.ts '<JSON array of RelayPair>' [--detached]`. Prints `ready` once every
 * socket is bound. It exits when its stdin closes, so it never outlives the process that started
 * it, unless `--detached`: then only a signal ends it.
 */
import { DelayRelay, type RelayPair } from './delay-relay.ts';

const pairs = JSON.parse(process.argv[2] ?? '[]') as RelayPair[];
const relay = await DelayRelay.start(pairs);
process.stdout.write('ready\n');
const stop = (): void => {
  relay.close();
  process.exit(0);
};
if (process.argv[3] !== '--detached') {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
process.on('SIGTERM', stop);
