/** Concurrency limits: soft limits spread new work, hard limits are never exceeded, and a full app waits briefly then gets 503 PL. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerResponse } from 'node:http';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { Backends, get, http80, machine, startProxy, type Reply } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

before(async () => {
  ({ proxy, routes, port } = await startProxy({ limits: { hardLimitWaitMs: 400 } }));
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
});

/** A backend that holds every request until released, counting those it holds at once. */
async function holding(name: string): Promise<{ port: number; held: ServerResponse[]; peak: () => number }> {
  const held: ServerResponse[] = [];
  let peak = 0;
  const b = await backends.start(name, (_req, res) => {
    held.push(res);
    peak = Math.max(peak, held.filter((r) => !r.writableEnded).length);
  });
  return { port: b.port, held, peak: () => peak };
}

const limits = (soft: number, hard: number) => ({ concurrency: { type: 'requests' as const, soft_limit: soft, hard_limit: hard } });

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('concurrency limits', () => {
  it('fills machines under their soft limit first and never passes a hard limit', async () => {
    const a = await holding('a');
    const b = await holding('b');
    routes.upsert(machine('m-a', 'conc', http80(a.port, limits(1, 2))));
    routes.upsert(machine('m-b', 'conc', http80(b.port, limits(1, 2))));
    const first = [get(port, 'conc.aloft.localhost'), get(port, 'conc.aloft.localhost')];
    await until('one request on each machine', () => a.held.length === 1 && b.held.length === 1);
    const more = [get(port, 'conc.aloft.localhost'), get(port, 'conc.aloft.localhost')];
    await until('both machines at their hard limit', () => a.held.length === 2 && b.held.length === 2);
    // A fifth request finds every machine at its hard limit: it waits, then is refused.
    const started = performance.now();
    const refused = await get(port, 'conc.aloft.localhost');
    const waitedMs = performance.now() - started;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['aloft-proxy-error'], 'PL');
    assert.match(refused.body, /hard concurrency limit/);
    assert.ok(waitedMs >= 350, `waited ${waitedMs} ms before refusing`);
    assert.equal(a.peak(), 2);
    assert.equal(b.peak(), 2);
    for (const r of [...a.held, ...b.held]) r.end('done');
    const replies: Reply[] = await Promise.all([...first, ...more]);
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200]);
  });

  it('gives a waiting request the slot a finished one frees', async () => {
    const c = await holding('c');
    routes.upsert(machine('m-c', 'conc2', http80(c.port, limits(1, 1))));
    const first = get(port, 'conc2.aloft.localhost');
    await until('the machine at its hard limit', () => c.held.length === 1);
    const second = get(port, 'conc2.aloft.localhost');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.held.length, 1, 'the second request waits at the proxy');
    c.held[0]!.end('one');
    await until('the waiting request delivered', () => c.held.length === 2);
    c.held[1]!.end('two');
    assert.equal((await first).body, 'one');
    assert.equal((await second).body, 'two');
  });
});
