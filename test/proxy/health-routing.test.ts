/**
 * Health-aware routing: a service's checks gate its traffic (only passing machines get new work,
 * a machine whose checks have not run yet is waited for), top-level checks are informational,
 * and a machine without service checks (or woken for the request) takes work as soon as it answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckStatus, ServiceConfig } from '../../src/lib/index.ts';
import type { EdgeProxy, MachineControl, MachineRoute, RouteTable } from '../../src/proxy/index.ts';
import { Backends, get, machine, startProxy } from './helpers.ts';

const backends = new Backends();
let proxy: EdgeProxy;
let routes: RouteTable;
let port: number;

/** Starting a machine here: its server already listens; the table hears it started with its check not yet probed. */
const control: MachineControl = {
  async start(row) {
    routes.upsert({ ...row, state: 'started', checks: [status(`servicecheck-00-tcp-${row.services[0]!.internal_port}`, 'warning')] });
  },
  async stop() {},
};

before(async () => {
  ({ proxy, routes, port } = await startProxy({ control, limits: { autostartTimeoutMs: 2_000 } }));
});

after(async () => {
  await proxy.close();
  await backends.closeAll();
});

/** A service on port 80 with one TCP check, reported as `servicecheck-00-tcp-<internal_port>`. */
const checked = (internal_port: number): ServiceConfig[] => [{ protocol: 'tcp', internal_port, ports: [{ port: 80, handlers: ['http'] }], checks: [{ type: 'tcp' }] }];
const status = (name: string, s: CheckStatus['status']): Pick<CheckStatus, 'name' | 'status'> => ({ name, status: s });

describe('health-aware routing', () => {
  it('sends new work only to machines whose service checks pass, not to those still waiting for a first probe', async () => {
    const ok = await backends.start('ok');
    const fresh = await backends.start('fresh');
    routes.upsert(machine('m-ok', 'health', checked(ok.port), { checks: [status(`servicecheck-00-tcp-${ok.port}`, 'passing')] }));
    routes.upsert(machine('m-fresh', 'health', checked(fresh.port), { checks: [status(`servicecheck-00-tcp-${fresh.port}`, 'warning')] }));
    for (let i = 0; i < 12; i++) {
      const r = await get(port, 'health.aloft.localhost');
      assert.equal(r.status, 200);
      assert.equal(r.headers['aloft-machine'], 'm-ok');
    }
    assert.equal(fresh.hits(), 0);
  });

  it('holds a request for a lone machine until its service checks pass', async () => {
    const b = await backends.start('soon');
    const row: MachineRoute = machine('m-soon', 'soon', checked(b.port), { checks: [status(`servicecheck-00-tcp-${b.port}`, 'warning')] });
    routes.upsert(row);
    const started = performance.now();
    const reply = get(port, 'soon.aloft.localhost');
    setTimeout(() => routes.upsert({ ...row, checks: [status(`servicecheck-00-tcp-${b.port}`, 'passing')] }), 300);
    const r = await reply;
    assert.equal(r.status, 200);
    assert.ok(performance.now() - started >= 280, 'it waited for the check');
  });

  it('refuses with 503 PM naming the failing checks when no machine passes', async () => {
    const b = await backends.start('sick');
    routes.upsert(machine('m-sick', 'sick', checked(b.port), { checks: [status(`servicecheck-00-tcp-${b.port}`, 'critical')] }));
    const r = await get(port, 'sick.aloft.localhost');
    assert.equal(r.status, 503);
    assert.equal(r.headers['aloft-proxy-error'], 'PM');
    assert.match(r.body, /service checks of m-sick \(failing\)/);
    assert.equal(b.hits(), 0);
  });

  it('routes to a started machine without service checks at once, whatever its top-level checks say', async () => {
    const b = await backends.start('plain');
    const services: ServiceConfig[] = [{ protocol: 'tcp', internal_port: b.port, ports: [{ port: 80, handlers: ['http'] }] }];
    routes.upsert(machine('m-plain', 'plain', services, { checks: [status('db-reachable', 'critical'), status('disk', 'warning')] }));
    const r = await get(port, 'plain.aloft.localhost');
    assert.equal(r.status, 200);
    assert.equal(r.headers['aloft-machine'], 'm-plain');
  });

  it('sends the request that woke a machine to it before its service checks have run', async () => {
    const b = await backends.start('woken');
    routes.upsert(machine('m-woken', 'woken', [{ ...checked(b.port)[0]!, autostart: true }], { state: 'stopped' }));
    const started = performance.now();
    const r = await get(port, 'woken.aloft.localhost');
    assert.equal(r.status, 200);
    assert.equal(r.headers['aloft-machine'], 'm-woken');
    assert.ok(performance.now() - started < 1_500, 'it did not wait for the checks');
  });
});
