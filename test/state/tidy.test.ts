import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

/** Where wall-clock time, OS randomness and real timers may appear: the production wiring only. */
const allowed = new Set(['src/state/open.ts', 'src/state/main.ts', 'src/state/random.ts', 'src/state/transport/net.ts', 'src/state/http/api.ts']);

test('protocol code reads time, randomness and timers only through the runtime', () => {
  const offenders: string[] = [];
  for (const file of globSync('src/state/**/*.ts')) {
    if (allowed.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    for (const banned of ['Date.now(', 'Math.random(', 'setTimeout(', 'setInterval(', 'performance.now(', 'randomBytes(']) {
      if (text.includes(banned)) offenders.push(`${file}: ${banned}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('production code never imports the simulator', () => {
  const offenders = globSync('src/state/**/*.ts')
    .filter((f) => !f.startsWith('src/state/sim/'))
    .filter((f) => /from '\.\/sim\/|from '\.\.\/sim\//.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});
