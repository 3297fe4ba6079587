/**
 * Probes against real loopback servers: each answer maps to the status and output a user sees
 * in `aloft machine status`, and a hung server cannot hold a probe past its timeout.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { outputCharsMax, probe } from '../../src/agent/checks/probe.ts';
import { checkSpecsOf, checksPerMachineMax, type CheckSpec } from '../../src/agent/checks/specs.ts';
import { machineConfigSchema } from '../../src/lib/index.ts';

let server: Server;
let port = 0;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/ok') res.writeHead(200).end('fine');
    else if (req.url === '/busy') res.writeHead(429).end();
    else if (req.url === '/hang') return; // never answers
    else if (req.url === '/long') res.writeHead(500, 'x'.repeat(4000)).end();
    else if (req.url === '/headers') res.writeHead(req.headers['x-check'] === 'yes' && req.method === 'HEAD' ? 204 : 400).end();
    else res.writeHead(500, 'Internal Server Error').end('database unreachable\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function spec(over: Partial<CheckSpec>): CheckSpec {
  return { name: 'c', type: 'http', port, intervalMs: 10_000, timeoutMs: 5_000, gracePeriodMs: 0, method: 'GET', path: '/ok', protocol: 'http', tlsSkipVerify: false, headers: {}, ...over };
}

describe('check probes', () => {
  it('passes on 2xx, warns on 429, is critical on other codes with the body quoted', async () => {
    assert.deepEqual(await probe(spec({}), '127.0.0.1'), { status: 'passing', output: 'HTTP GET /ok: 200 OK' });
    assert.equal((await probe(spec({ path: '/busy' }), '127.0.0.1')).status, 'warning');
    assert.deepEqual(await probe(spec({ path: '/broken' }), '127.0.0.1'), {
      status: 'critical',
      output: 'HTTP GET /broken: 500 Internal Server Error: database unreachable',
    });
  });

  it('bounds the output every host receives', async () => {
    const r = await probe(spec({ path: '/long' }), '127.0.0.1');
    assert.equal(r.status, 'critical');
    assert.equal(r.output.length, outputCharsMax);
    assert.ok(r.output.endsWith('…'));
  });

  it('sends the configured method and headers', async () => {
    const r = await probe(spec({ path: '/headers', method: 'HEAD', headers: { 'x-check': ['yes'] } }), '127.0.0.1');
    assert.equal(r.status, 'passing', r.output);
  });

  it('is critical, not a crash, for a request node:http refuses to send', async () => {
    const r = await probe(spec({ method: 'GE T' }), '127.0.0.1');
    assert.equal(r.status, 'critical');
    assert.match(r.output, /^HTTP GE T \/ok: cannot send this request/);
  });

  it('is critical when the server does not answer within the timeout', async () => {
    const started = performance.now();
    const r = await probe(spec({ path: '/hang', timeoutMs: 300 }), '127.0.0.1');
    assert.deepEqual(r, { status: 'critical', output: 'HTTP GET /hang: no response within 300 ms' });
    assert.ok(performance.now() - started < 5_000);
  });

  it('tcp: passes when the port accepts, critical when refused', async () => {
    const tcp = createTcpServer((s) => s.end());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const open = (tcp.address() as AddressInfo).port;
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    assert.equal((await probe(spec({ type: 'tcp', port: open }), '127.0.0.1')).status, 'critical');
    assert.match((await probe(spec({ type: 'tcp', port: open }), '127.0.0.1')).output, /ECONNREFUSED/);
    assert.deepEqual(await probe(spec({ type: 'tcp' }), '127.0.0.1'), { status: 'passing', output: `TCP connect ${port}: success` });
  });

  it('resolves top-level and service checks with Fly names, ports and bounded durations', () => {
    const config = machineConfigSchema.parse({
      image: 'x',
      services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks: [{ type: 'http', path: '/health', interval: '100ms' }, { type: 'tcp' }] }],
      checks: { alive: { type: 'tcp', interval: '5s', timeout: '30s', grace_period: '2s' } },
    });
    const specs = checkSpecsOf(config);
    assert.deepEqual(
      specs.map((s) => [s.name, s.type, s.port, s.intervalMs, s.timeoutMs, s.gracePeriodMs]),
      [
        ['alive', 'tcp', 8080, 5000, 30000, 2000],
        ['servicecheck-00-http-8080', 'http', 8080, 1000, 2000, 1000],
        ['servicecheck-01-tcp-8080', 'tcp', 8080, 15000, 2000, 1000],
      ],
    );
    const many = machineConfigSchema.parse({ image: 'x', checks: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`c${i}`, { type: 'tcp', port: 80 }])) });
    assert.equal(checkSpecsOf(many).length, checksPerMachineMax);
  });
});
