/** Bad clients and misbehaving apps: each gets the right answer, nothing crashes, and other apps keep being served. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EdgeProxy, RouteTable } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { Backends, get, http80, machine, rawExchange, startProxy } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;
const hung: Array<() => void> = [];

before(async () => {
  ({ proxy, routes, port } = await startProxy({ limits: { headersTimeoutMs: 300, firstByteTimeoutMs: 300, appInFlightMax: 8, bodyIdleTimeoutMs: 1_000 } }));
  const ok = await backends.start('ok');
  routes.upsert(machine('m-ok', 'fine', http80(ok.port)));
});

after(async () => {
  for (const release of hung) release();
  await proxy.close();
  await backends.closeAll();
});

/** `reply`, or a failure naming `what` if it has not come within `ms`. */
function within<T>(what: string, ms: number, reply: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([reply, late]).finally(() => clearTimeout(timer));
}

describe('bad input', () => {
  it('answers 431 to oversized headers', async () => {
    const r = await get(port, 'fine.aloft.localhost', '/', { headers: { 'x-big': 'a'.repeat(20_000) } });
    assert.equal(r.status, 431);
    assert.equal(r.headers['aloft-proxy-error'], 'PB');
    assert.equal((await get(port, 'fine.aloft.localhost')).status, 200, 'the proxy still serves');
  });

  it('answers 400 to a malformed request', async () => {
    const r = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n', { keepOpen: true });
    assert.match(r.text, /^HTTP\/1\.1 400 /);
    assert.match(r.text, /"code":"PB"/);
  });

  it('closes a slowloris connection that never finishes its headers with 408', async () => {
    const r = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: fine.aloft.localhost\r\nX-Slow: 1', { keepOpen: true });
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.ok(r.ms < 5_000, `closed after ${r.ms} ms`);
  });

  it('closes a connection that sends nothing', async () => {
    const r = await rawExchange(port, '', { keepOpen: true });
    assert.equal(r.text, '');
    assert.ok(r.ms < 5_000, `closed after ${r.ms} ms`);
  });

  it('answers 502 PA when a replay points nowhere, without crashing', async () => {
    const b = await backends.start('replayer', (_req, res) => {
      res.setHeader('fly-replay', 'region=nowhere');
      res.end();
    });
    routes.upsert(machine('m-replayer', 'replayer', http80(b.port)));
    const r = await get(port, 'replayer.aloft.localhost');
    assert.equal(r.status, 502);
    assert.equal(r.headers['aloft-proxy-error'], 'PA');
    assert.equal(r.headers['fly-replay-failed'], 'no_candidate');
    assert.match(r.body, /region\(s\) nowhere/);
  });

  it("does not let one app's hung machine starve another app", async () => {
    const slow = await backends.start('slow', (_req, res) => {
      hung.push(() => res.end('late'));
    });
    routes.upsert(machine('m-slow', 'slow', http80(slow.port, { concurrency: { type: 'requests', soft_limit: 100, hard_limit: 100 } })));
    const pending = Array.from({ length: 8 }, () => get(port, 'slow.aloft.localhost').catch(() => undefined));
    await new Promise((r) => setTimeout(r, 200));
    const refused = await get(port, 'slow.aloft.localhost');
    assert.equal(refused.status, 503, 'the app past its share of the proxy is refused at once');
    assert.equal(refused.headers['aloft-proxy-error'], 'PL');
    const started = performance.now();
    for (let i = 0; i < 5; i++) assert.equal((await get(port, 'fine.aloft.localhost')).status, 200);
    assert.ok(performance.now() - started < 3_000, 'the other app is served promptly');
    for (const release of hung.splice(0)) release();
    await Promise.all(pending);
  });

  it('answers 408 to a buffered request body that stops arriving, and frees the app its slots', async () => {
    const b = await backends.start('trickle');
    routes.upsert(machine('m-trickle', 'trickle', http80(b.port)));
    // Eight bodies that stop after a few bytes take the app's whole share of the proxy (8)...
    const stalled = Array.from({ length: 8 }, () => rawExchange(port, 'POST /up HTTP/1.1\r\nHost: trickle.aloft.localhost\r\nContent-Length: 100\r\n\r\nabc', { keepOpen: true }));
    await eventually('the stalled bodies to hold every slot', async () => (await get(port, 'trickle.aloft.localhost')).status === 503, 900, 20);
    // ...until the body idle timeout answers each with 408 and closes it.
    for (const r of await within('408 for the stalled bodies', 5_000, Promise.all(stalled))) {
      assert.match(r.text, /^HTTP\/1\.1 408 /);
      assert.match(r.text, /"code":"PB"/);
      assert.match(r.text, /request body stopped arriving/);
    }
    assert.equal((await get(port, 'trickle.aloft.localhost')).status, 200, 'the slots are free again');
    assert.equal(b.hits(), 1, 'no stalled body reached the machine');
  });

  it('answers 408 to a streamed request body that stops arriving, and lets go of the machine', async () => {
    let aborted = false;
    const b = await backends.start('sink', (req) => {
      req.resume();
      req.on('close', () => (aborted = !req.complete));
    });
    routes.upsert(machine('m-sink', 'sink', http80(b.port)));
    // Larger than the proxy buffers for replay (1 MiB), so it streams to the machine as it comes.
    const r = await within('408 for the stalled stream', 5_000, rawExchange(port, `POST /up HTTP/1.1\r\nHost: sink.aloft.localhost\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n${'x'.repeat(1000)}`, { keepOpen: true }));
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.equal(b.hits(), 1, 'the body was streaming to the machine');
    await eventually('the machine to see the request end', () => aborted, 2_000);
  });
});
