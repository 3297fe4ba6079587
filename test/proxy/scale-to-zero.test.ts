/** Scale to zero against a MachineControl that really starts and stops loopback servers (the platform test uses real machines). */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ServiceConfig } from '../../src/lib/index.ts';
import type { EdgeProxy, MachineControl, MachineRoute, RouteTable } from '../../src/proxy/index.ts';
import { get, machine, startProxy, unusedPort } from './helpers.ts';

/** Each machine is an HTTP server that takes `bootMs` to listen after a start, on a port fixed per machine. */
class FakeMachines implements MachineControl {
  readonly servers = new Map<string, Server>();
  readonly ports = new Map<string, number>();
  starts = 0;
  stops = 0;
  bootMs = 150;
  /** When set, started machines never listen (an app that fails to come up). */
  broken = new Set<string>();
  routes!: RouteTable;

  async reservePort(id: string): Promise<number> {
    const port = await unusedPort();
    this.ports.set(id, port);
    return port;
  }

  async start(row: MachineRoute): Promise<void> {
    this.starts += 1;
    this.routes.upsert({ ...row, state: 'started' });
    if (this.broken.has(row.id)) return;
    setTimeout(() => {
      const server = createServer((req, res) => res.end(`${row.id} ${req.url}`));
      server.listen(this.ports.get(row.id), '127.0.0.1');
      this.servers.set(row.id, server);
    }, this.bootMs);
  }

  async stop(row: MachineRoute): Promise<void> {
    this.stops += 1;
    const server = this.servers.get(row.id);
    this.servers.delete(row.id);
    server?.closeAllConnections();
    server?.close();
    this.routes.upsert({ ...row, state: 'stopped' });
  }

  async closeAll(): Promise<void> {
    for (const s of this.servers.values()) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

const machines = new FakeMachines();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

const service = (internal_port: number, extra: Partial<ServiceConfig>): ServiceConfig[] => [{ protocol: 'tcp', internal_port, ports: [{ port: 80, handlers: ['http'] }], ...extra }];

before(async () => {
  ({ proxy, routes, port } = await startProxy({ control: machines, limits: { autostartTimeoutMs: 1_500, idleStopMs: 800, autostopIntervalMs: 60_000 } }));
  machines.routes = routes;
});

after(async () => {
  await proxy.close();
  await machines.closeAll();
});

describe('scale to zero', () => {
  it('autostart wakes a stopped machine and holds the request until it answers', async () => {
    const p = await machines.reservePort('m-wake');
    routes.upsert(machine('m-wake', 'sleepy', service(p, { autostart: true }), { state: 'stopped' }));
    const started = performance.now();
    const replies = await Promise.all([get(port, 'sleepy.aloft.localhost', '/1'), get(port, 'sleepy.aloft.localhost', '/2')]);
    const tookMs = performance.now() - started;
    assert.deepEqual(replies.map((r) => [r.status, r.body]), [[200, 'm-wake /1'], [200, 'm-wake /2']]);
    assert.equal(machines.starts, 1, 'concurrent requests share one start');
    assert.ok(tookMs >= 140, `held for the boot (${tookMs} ms)`);
  });

  it('answers 503 PM when a woken machine never answers, and never starts one without autostart', async () => {
    const p = await machines.reservePort('m-broken');
    machines.broken.add('m-broken');
    routes.upsert(machine('m-broken', 'broken', service(p, { autostart: true }), { state: 'stopped' }));
    const r = await get(port, 'broken.aloft.localhost');
    assert.equal(r.status, 503);
    assert.equal(r.headers['aloft-proxy-error'], 'PM');
    assert.match(r.body, /did not accept connections on port \d+ within 1500 ms/);
    const q = await machines.reservePort('m-manual');
    const startsBefore = machines.starts;
    routes.upsert(machine('m-manual', 'manual', service(q, {}), { state: 'stopped' }));
    assert.equal((await get(port, 'manual.aloft.localhost')).status, 503);
    assert.equal(machines.starts, startsBefore);
  });

  it('autostop stops idle machines one per pass, keeping min_machines_running', async () => {
    const ids = ['m-idle1', 'm-idle2', 'm-idle3'];
    for (const id of ids) {
      const p = await machines.reservePort(id);
      routes.upsert(machine(id, 'idle', service(p, { autostart: true, autostop: 'suspend', min_machines_running: 1 }), { state: 'stopped' }));
      await machines.start(routes.get(id)!);
    }
    await new Promise((r) => setTimeout(r, machines.bootMs + 50));
    assert.equal((await get(port, 'idle.aloft.localhost')).status, 200);
    assert.deepEqual(proxy.autostopNow(), [], 'nothing has been idle long enough yet');
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(proxy.autostopNow().length, 1, 'one machine per pass');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(proxy.autostopNow().length, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(proxy.autostopNow(), [], 'min_machines_running = 1 keeps the last');
    assert.equal(routes.machines('idle').filter((m) => m.state === 'started').length, 1);
    const r = await get(port, 'idle.aloft.localhost');
    assert.equal(r.status, 200, 'the kept machine serves');
  });

  it('autostop leaves machines with autostop off alone', async () => {
    const p = await machines.reservePort('m-keep');
    routes.upsert(machine('m-keep', 'keep', service(p, { autostop: 'off' }), { state: 'stopped' }));
    await machines.start(routes.get('m-keep')!);
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(proxy.autostopNow().includes('m-keep'), false);
  });
});
