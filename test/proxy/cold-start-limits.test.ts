/**
 * A burst of requests to stopped machines: the woken machines take no more than their hard
 * limit; the rest wake further sleepers, or wait for a slot and then get a 503.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ServiceConfig } from '../../src/lib/index.ts';
import type { EdgeProxy, MachineControl, MachineRoute, RouteTable } from '../../src/proxy/index.ts';
import { get, machine, startProxy, unusedPort } from './helpers.ts';

/** Machines that boot in `bootMs` and hold every request; the table hears they started only later, as through gossip. */
class HoldingMachines implements MachineControl {
  readonly ports = new Map<string, number>();
  readonly servers = new Map<string, Server>();
  readonly held = new Map<string, ServerResponse[]>();
  readonly peak = new Map<string, number>();
  readonly timers = new Set<NodeJS.Timeout>();
  routes!: RouteTable;
  bootMs = 150;
  tableLagMs = 300;

  async reservePort(id: string): Promise<number> {
    const port = await unusedPort();
    this.ports.set(id, port);
    return port;
  }

  async start(row: MachineRoute): Promise<void> {
    this.#later(() => {
      const held: ServerResponse[] = [];
      this.held.set(row.id, held);
      const server = createServer((_req, res) => {
        held.push(res);
        this.peak.set(row.id, Math.max(this.peak.get(row.id) ?? 0, held.filter((r) => !r.writableEnded).length));
      });
      server.listen(this.ports.get(row.id), '127.0.0.1');
      this.servers.set(row.id, server);
      this.#later(() => this.routes.upsert({ ...row, state: 'started' }), this.tableLagMs);
    }, this.bootMs);
  }

  async stop(): Promise<void> {}

  releaseAll(): void {
    for (const held of this.held.values()) for (const res of held) if (!res.writableEnded) res.end('done');
  }

  async closeAll(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.releaseAll();
    for (const s of this.servers.values()) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    this.servers.clear();
    this.held.clear();
    this.peak.clear();
  }

  #later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

const machines = new HoldingMachines();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

const service = (internal_port: number): ServiceConfig[] => [
  { protocol: 'tcp', internal_port, autostart: true, ports: [{ port: 80, handlers: ['http'] }], concurrency: { type: 'requests', soft_limit: 2, hard_limit: 2 } },
];

before(async () => {
  ({ proxy, routes, port } = await startProxy({ control: machines, limits: { hardLimitWaitMs: 400, autostartTimeoutMs: 5_000 } }));
  machines.routes = routes;
});

afterEach(() => machines.closeAll());

after(() => proxy.close());

async function stopped(id: string, app: string): Promise<void> {
  routes.upsert(machine(id, app, service(await machines.reservePort(id)), { state: 'stopped' }));
}

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const heldBy = (id: string): number => machines.held.get(id)?.filter((r) => !r.writableEnded).length ?? 0;

describe('cold start under a burst', () => {
  it('puts no more than its hard limit on a woken machine; the rest wait, then get 503 PL', async () => {
    await stopped('m-cold', 'cold');
    let settled = 0;
    const burst = Array.from({ length: 10 }, () => get(port, 'cold.aloft.localhost').finally(() => (settled += 1)));
    await until('two requests at the woken machine', () => heldBy('m-cold') === 2);
    // The overflow is refused once it has waited for a slot (400 ms), while the two are still held.
    await until('the eight others answered', () => settled === 8);
    assert.equal(machines.peak.get('m-cold'), 2, 'never more than hard_limit at the machine');
    machines.releaseAll();
    const replies = await Promise.all(burst);
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503, 503, 503, 503, 503]);
    assert.ok(replies.filter((r) => r.status === 503).every((r) => r.headers['aloft-proxy-error'] === 'PL'));
  });

  it('wakes another sleeper for the requests the first woken machine cannot take', async () => {
    await stopped('m-a', 'pair');
    await stopped('m-b', 'pair');
    const burst = Array.from({ length: 4 }, () => get(port, 'pair.aloft.localhost'));
    await until('two requests at each machine', () => heldBy('m-a') === 2 && heldBy('m-b') === 2);
    machines.releaseAll();
    assert.deepEqual((await Promise.all(burst)).map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(machines.peak.get('m-a'), 2);
    assert.equal(machines.peak.get('m-b'), 2);
  });

  it('gives a request past the woken machine the slot a finished one frees, however long the boot took', async () => {
    machines.bootMs = 600;
    await stopped('m-one', 'one');
    const burst = Array.from({ length: 3 }, () => get(port, 'one.aloft.localhost'));
    await until('two requests at the machine', () => heldBy('m-one') === 2);
    machines.held.get('m-one')![0]!.end('first');
    await until('the third delivered to the freed slot', () => machines.held.get('m-one')!.length === 3);
    machines.releaseAll();
    assert.deepEqual((await Promise.all(burst)).map((r) => r.status), [200, 200, 200]);
    assert.equal(machines.peak.get('m-one'), 2);
    machines.bootMs = 150;
  });
});
