/**
 * Autostop's decision rules on a route table with a controlled clock: one decider per region,
 * idleness from every proxy's traffic, min_machines_running kept region-wide while stops travel,
 * and what each proxy publishes of its traffic. The fleet test (test/fleet/autostop.test.ts)
 * runs the same rules with real hosts sharing a state layer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger, type Clock, type ServiceConfig } from '../../src/lib/index.ts';
import { ActivityReporter, type MachineActivity, type RegionActivity } from '../../src/proxy/activity.ts';
import { RouteTable, type MachineControl, type MachineRoute } from '../../src/proxy/index.ts';
import { Autostopper } from '../../src/proxy/scale-to-zero.ts';
import { machine } from './helpers.ts';

const idleStopMs = 60_000;

class TestClock implements Clock {
  wallMs = 1_800_000_000_000;
  monoMs = 1_000;
  now(): number {
    return this.wallMs;
  }
  monotonicMs(): number {
    return this.monoMs;
  }
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }
}

/** Records the stops asked for; the route table hears of them only when a test says so (as through the state layer). */
class RecordingControl implements MachineControl {
  readonly stops: string[] = [];
  failing = false;
  async start(): Promise<void> {}
  async stop(m: MachineRoute): Promise<void> {
    this.stops.push(m.id);
    if (this.failing) throw new Error('agent unreachable');
  }
}

/** The region's shared view as a test sets it. */
class SharedActivity implements RegionActivity {
  readonly latest = new Map<string, number>();
  readonly published: Array<{ active: MachineActivity[]; gone: string[] }> = [];
  decider = true;
  failing = false;
  publish(active: readonly MachineActivity[], gone: readonly string[]): void {
    if (this.failing) throw new Error('rate limited');
    this.published.push({ active: [...active], gone: [...gone] });
  }
  lastActive(): ReadonlyMap<string, number> {
    return this.latest;
  }
  decides(): boolean {
    return this.decider;
  }
}

const web = (extra: Partial<ServiceConfig> = {}): ServiceConfig[] => [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostop: 'stop', ...extra }];

function setup(activity?: SharedActivity): { clock: TestClock; routes: RouteTable; control: RecordingControl; stopper: Autostopper } {
  const clock = new TestClock();
  const routes = new RouteTable(() => clock.monoMs);
  const control = new RecordingControl();
  const stopper = new Autostopper(routes, control, { region: 'ams', idleStopMs, intervalMs: 30_000, clock, ...(activity === undefined ? {} : { activity }) }, silentLogger());
  return { clock, routes, control, stopper };
}

const onHost = (id: string, hostId: string, services = web(), more: Partial<MachineRoute> = {}): MachineRoute => machine(id, 'app', services, { region: 'ams', hostId, ...more });

describe('autostop decisions', () => {
  it("only the region's decider stops, and a new decider acts from its second pass", () => {
    const activity = new SharedActivity();
    const { clock, routes, control, stopper } = setup(activity);
    routes.upsert(onHost('m-1', 'ams-2'));
    clock.advance(idleStopMs + 1);
    activity.decider = false;
    assert.deepEqual(stopper.tick(), [], 'not the decider');
    activity.decider = true;
    assert.deepEqual(stopper.tick(), [], 'just became the decider: waits a pass');
    assert.deepEqual(stopper.tick(), ['m-1'], "stops the idle machine, on another host's agent");
    assert.deepEqual(control.stops, ['m-1']);
  });

  it('does not stop a machine with traffic through another proxy, and stops it once that traffic is idle too', () => {
    const activity = new SharedActivity();
    const { clock, routes, stopper } = setup(activity);
    stopper.tick();
    routes.upsert(onHost('m-busy-elsewhere', 'ams-1'));
    routes.upsert(onHost('m-idle', 'ams-2'));
    clock.advance(idleStopMs * 3);
    activity.latest.set('m-busy-elsewhere', clock.wallMs - 5_000);
    activity.latest.set('m-idle', clock.wallMs - idleStopMs * 2);
    assert.deepEqual(stopper.tick(), ['m-idle'], 'no traffic through this proxy, but some through another a moment ago');
    assert.deepEqual(stopper.tick(), [], 'still busy elsewhere');
    clock.advance(idleStopMs);
    assert.deepEqual(stopper.tick(), ['m-busy-elsewhere']);
  });

  it('does not stop a machine with traffic through this proxy', () => {
    const { clock, routes, stopper } = setup();
    routes.upsert(onHost('m-1', 'ams-1'));
    clock.advance(idleStopMs * 2);
    const target = routes.targets('app', 80)[0]!;
    routes.acquire(target);
    clock.advance(idleStopMs * 2);
    assert.deepEqual(stopper.tick(), [], 'a request in flight');
    routes.release(target);
    clock.advance(idleStopMs - 1);
    assert.deepEqual(stopper.tick(), [], 'idle, not long enough');
    clock.advance(2);
    assert.deepEqual(stopper.tick(), ['m-1']);
  });

  it('does not stop a machine with a UDP flow through this proxy', () => {
    const { clock, routes, stopper } = setup();
    routes.upsert(onHost('m-1', 'ams-1', [...web(), { protocol: 'udp', internal_port: 5353, ports: [{ port: 53, handlers: [] }] }]));
    // A flow holds its machine's UDP service as the UDP listener does, for as long as it lasts.
    const flow = routes.routable('app', 53, 'udp')[0]!;
    routes.acquire(flow);
    clock.advance(idleStopMs * 2);
    assert.deepEqual(stopper.tick(), [], 'a UDP flow in flight, though no HTTP request');
    routes.release(flow);
    clock.advance(idleStopMs + 1);
    assert.deepEqual(stopper.tick(), ['m-1']);
  });

  it('keeps min_machines_running in the region while stops travel, one machine per app per pass, whatever the hosts', async () => {
    const { clock, routes, control, stopper } = setup();
    for (const [id, host] of [['m-1', 'ams-1'], ['m-2', 'ams-2'], ['m-3', 'ams-3']] as const) routes.upsert(onHost(id, host, web({ min_machines_running: 1 })));
    routes.upsert(machine('m-iad', 'app', web(), { region: 'iad', hostId: 'iad-1' }));
    clock.advance(idleStopMs + 1);
    // Between passes the agents accept the stops; the table hears of them later.
    const pass = async (): Promise<string[]> => {
      const stopped = stopper.tick();
      await new Promise((r) => setImmediate(r));
      return stopped;
    };
    assert.equal((await pass()).length, 1, 'one per pass');
    assert.equal((await pass()).length, 1, 'the second, while the table still shows the first started');
    assert.deepEqual(await pass(), [], 'the last one of the region stays');
    assert.deepEqual(await pass(), []);
    assert.equal(control.stops.length, 2);
    assert.ok(!control.stops.includes('m-iad'), "another region's machine is its decider's");
    // The stops reach the table; still one is kept.
    for (const id of control.stops) routes.upsert({ ...routes.get(id)!, state: 'stopped' });
    assert.deepEqual(stopper.tick(), []);
  });

  it('counts a machine whose stop failed as started again', async () => {
    const { clock, routes, control, stopper } = setup();
    routes.upsert(onHost('m-1', 'ams-1', web({ min_machines_running: 1 })));
    routes.upsert(onHost('m-2', 'ams-2', web({ min_machines_running: 1 })));
    clock.advance(idleStopMs + 1);
    control.failing = true;
    const [first] = stopper.tick();
    await new Promise((r) => setImmediate(r));
    control.failing = false;
    assert.equal(stopper.tick().length, 1, 'tried again: the failed one still runs');
    assert.equal(control.stops[0], first);
  });

  it('never stops a machine whose services have no public port (the proxy sees none of its traffic)', () => {
    const { clock, routes, stopper } = setup();
    routes.upsert(onHost('m-worker', 'ams-1', [{ protocol: 'tcp', internal_port: 9000, ports: [], autostop: 'stop' }]));
    clock.advance(idleStopMs * 10);
    assert.deepEqual(stopper.tick(), []);
  });

  it('counts a machine that just started as active, however long it was stopped', () => {
    const { clock, routes, stopper } = setup();
    routes.upsert(onHost('m-1', 'ams-1', web(), { state: 'stopped' }));
    clock.advance(idleStopMs * 10);
    routes.upsert({ ...routes.get('m-1')!, state: 'started' });
    assert.deepEqual(stopper.tick(), [], 'started a moment ago (by another proxy, for a request on its way)');
    clock.advance(idleStopMs);
    assert.deepEqual(stopper.tick(), ['m-1']);
  });
});

describe('activity a proxy publishes', () => {
  it('tells only of machines with traffic: a busy one every pass, an idle one once after its traffic, then forgets them when gone', () => {
    const clock = new TestClock();
    const routes = new RouteTable(() => clock.monoMs);
    const shared = new SharedActivity();
    const reporter = new ActivityReporter(routes, shared, clock, silentLogger());
    routes.upsert(onHost('m-quiet', 'ams-1'));
    routes.upsert(onHost('m-busy', 'ams-1'));
    routes.upsert(onHost('m-worker', 'ams-1', [{ protocol: 'tcp', internal_port: 9000, ports: [] }]));
    reporter.report();
    assert.equal(shared.published.length, 0, 'nothing had traffic');
    const busy = routes.targets('app', 80).find((t) => t.machineId === 'm-busy')!;
    clock.advance(1_000);
    routes.acquire(busy);
    reporter.report();
    clock.advance(1_000);
    reporter.report();
    assert.deepEqual(
      shared.published.map((p) => p.active),
      [[{ machineId: 'm-busy', lastActiveAt: clock.wallMs - 1_000 }], [{ machineId: 'm-busy', lastActiveAt: clock.wallMs }]],
      'busy: published at every pass as active now',
    );
    clock.advance(500);
    routes.release(busy);
    const releasedAt = clock.wallMs;
    clock.advance(1_000);
    reporter.report();
    reporter.report();
    assert.deepEqual(shared.published.slice(2).map((p) => p.active), [[{ machineId: 'm-busy', lastActiveAt: releasedAt }]], 'its last traffic, once');
    shared.failing = true;
    routes.remove('m-busy');
    reporter.report();
    shared.failing = false;
    reporter.report();
    assert.deepEqual(shared.published.slice(3), [{ active: [], gone: ['m-busy'] }], 'gone, told again after a failed publish');
    reporter.report();
    assert.equal(shared.published.length, 4);
  });
});
