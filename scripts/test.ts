/**
 * The test command: type-check everything, then run the test files with node's test runner.
 * `npm test` runs the whole suite; `npm test -- test/state` runs the files under a folder or
 * matching a path. Files run in separate processes, two at a time on our 2-core machines.
 */
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const args = process.argv.slice(2);
const patterns = args.length > 0 ? args : ['test'];
const files = patterns
  .flatMap((p) => (p.endsWith('.ts') ? [p] : globSync(`${p.replace(/\/$/, '')}/**/*.test.ts`)))
  .sort();

if (files.length === 0) {
  console.error(`no test files match ${patterns.join(' ')}`);
  process.exit(2);
}

const typecheck = spawnSync('node_modules/.bin/tsc', ['-p', 'tsconfig.json'], { stdio: 'inherit' });
if (typecheck.status !== 0) {
  console.error('type check failed: fix the errors above before the tests run');
  process.exit(1);
}

const concurrency = process.env.ALOFT_TEST_CONCURRENCY ?? '2';
const run = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', '--test-reporter=spec', ...files],
  // Tests read the CLI's output as text: no colour codes, also where CI would turn them on.
  { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } },
);
process.exit(run.status ?? 1);
