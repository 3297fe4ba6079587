import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OperationEngine } from '../../src/agent/fsm/index.ts';
import { AgentStore } from '../../src/agent/store.ts';
import { silentLogger, systemClock, ValidationError } from '../../src/lib/index.ts';

const dirs: string[] = [];
async function store(): Promise<AgentStore> {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-fsm-'));
  dirs.push(dir);
  return new AgentStore(join(dir, 'db'));
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('operation engine', () => {
  it('runs steps in order and forgets finished operations', async () => {
    const log = await store();
    const engine = new OperationEngine({ log, clock: systemClock, logger: silentLogger() });
    const seen: string[] = [];
    engine.define({ kind: 'k', steps: ['a', 'b', 'c'].map((name) => ({ name, run: async () => void seen.push(name) })) });
    const op = engine.submit('k', 'm1');
    assert.equal(log.unfinished().length, 1, 'logged before it runs');
    const done = await engine.done(op);
    assert.equal(done.status, 'done');
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(log.unfinished().length, 0);
    await log.close();
  });

  it('serializes operations on one subject and runs different subjects concurrently', async () => {
    const log = await store();
    const engine = new OperationEngine({ log, clock: systemClock, logger: silentLogger() });
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    engine.define({ kind: 'slow', steps: [{ name: 's', run: async ({ op }) => { order.push(`start ${op.subject}:${String(op.input.n)}`); await gate; order.push(`end ${op.subject}:${String(op.input.n)}`); } }] });
    engine.define({ kind: 'fast', steps: [{ name: 'f', run: async ({ op }) => void order.push(`fast ${op.subject}`) }] });
    const a1 = engine.submit('slow', 'a', { n: 1 });
    const a2 = engine.submit('fast', 'a');
    const b = engine.submit('fast', 'b');
    await engine.done(b);
    assert.deepEqual(order, ['start a:1', 'fast b'], 'b ran while a was blocked; a2 waited');
    release();
    await engine.done(a1);
    await engine.done(a2);
    assert.deepEqual(order, ['start a:1', 'fast b', 'end a:1', 'fast a']);
    await log.close();
  });

  it('resumes an unfinished operation at the step it was in, after a restart', async () => {
    const log = await store();
    const first = new OperationEngine({ log, clock: systemClock, logger: silentLogger() });
    const runs: string[] = [];
    const steps = (failAt?: string) =>
      ['one', 'two', 'three'].map((name) => ({
        name,
        run: async () => {
          runs.push(name);
          if (name === failAt) await new Promise(() => undefined); // the process "dies" here: never finishes
        },
      }));
    first.define({ kind: 'k', steps: steps('two') });
    first.submit('k', 'm');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(runs, ['one', 'two']);
    assert.equal(log.unfinished()[0]?.stepName, 'two');

    const second = new OperationEngine({ log, clock: systemClock, logger: silentLogger() });
    second.define({ kind: 'k', steps: steps() });
    const resumed = second.resume();
    assert.equal(resumed.length, 1);
    await second.done(resumed[0]!);
    assert.deepEqual(runs, ['one', 'two', 'two', 'three'], 'step two ran again (idempotent), one did not');
    assert.equal(log.unfinished().length, 0);
    await log.close();
  });

  it('marks a failing operation failed with the error and calls its failure handler once', async () => {
    const log = await store();
    const engine = new OperationEngine({ log, clock: systemClock, logger: silentLogger() });
    let handled = 0;
    engine.define({
      kind: 'k',
      steps: [{ name: 'bad', run: async () => { throw new ValidationError('no such image'); } }, { name: 'never', run: async () => assert.fail('ran after failure') }],
      onFailure: async () => void handled++,
    });
    const op = engine.submit('k', 'm');
    await assert.rejects(engine.done(op), /no such image/);
    assert.equal(handled, 1);
    assert.equal(log.unfinished().length, 0);
    await log.close();
  });
});
