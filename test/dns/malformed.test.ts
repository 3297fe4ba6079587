/**
 * Hostile and broken input: random bytes, truncated packets, absurd counts, compression loops,
 * odd opcodes and TCP framing; one flooding source must not starve another; askers outside 6PN
 * without a default organization are refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { startDnsServer, type DnsServer } from '../../src/dns/index.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { sixpnAddress } from '../../src/net/index.ts';
import { openState, type StateHandle } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { dig, publishMachine, startFakeUpstream, udpExchange } from './helpers.ts';

const org = 3;
const dir = mkdtempSync(join(tmpdir(), 'aloft-dns-malformed-'));
let state: StateHandle;
const servers: DnsServer[] = [];
const closers: Array<() => Promise<void>> = [];

before(async () => {
  state = await openState({ dataDir: join(dir, 'state'), clusterKey: Buffer.from('e7'.repeat(32), 'hex'), log: silentLogger() });
  publishMachine(state, { id: 'web1', app: 'web', region: 'ams', state: 'started', ip: sixpnAddress(org, 1, 1, 2) });
});

after(async () => {
  for (const s of servers) await s.close();
  for (const c of closers) await c();
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: Partial<Parameters<typeof startDnsServer>[0]> = {}): Promise<{ host: string; port: number }> {
  const dns = await startDnsServer({ state, listen: [{ host: '127.0.0.1', port: 0 }], region: 'ams', defaultOrg: org, upstream: 'none', logger: silentLogger(), ...options });
  servers.push(dns);
  return dns.addresses[0]!;
}

function query(name: string, id = 0x1234, type: 'AAAA' | 'TXT' | 'A' = 'AAAA'): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

const rcodeOf = (reply: Buffer): number => reply[3]! & 0x0f;

/** A small seeded PRNG so a failing fuzz run can be replayed (the seed is in the test name). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

test('fuzz (seed 20261122): random bytes get FORMERR-or-better with their id, or silence when no header; the server keeps answering', async () => {
  const server = await start({ limits: { sourceQueriesBurst: 1_000_000, sourceQueriesPerSecond: 1_000_000 } });
  const random = prng(20261122);
  const valid = query('web.internal');
  let replied = 0;
  for (let i = 0; i < 1500; i += 1) {
    // Half pure noise, half a valid query with some bytes flipped (reaches deeper into the decoder).
    const packet = i % 2 === 0 ? Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))) : Buffer.from(valid);
    if (i % 2 === 1) for (let k = 0; k < 1 + Math.floor(random() * 4); k += 1) packet[Math.floor(random() * packet.length)] = Math.floor(random() * 256);
    const headerReadable = packet.length >= 12 && (packet[2]! & 0x80) === 0;
    if (!headerReadable) {
      await udpExchange(server, packet, '127.0.0.1', 1);
      continue;
    }
    const reply = await udpExchange(server, packet);
    assert.ok(reply !== null, `no reply to packet ${i}: ${packet.toString('hex')}`);
    assert.equal(reply.readUInt16BE(0), packet.readUInt16BE(0), 'the reply carries the query id');
    assert.ok((reply[2]! & 0x80) !== 0, 'QR set');
    replied += 1;
  }
  assert.ok(replied > 500);
  // SERVFAIL here would be an exception inside the responder: a bug of ours, not bad input.
  assert.equal(servers.at(-1)!.stats().servfail, 0, JSON.stringify(servers.at(-1)!.stats()));
  const after = await udpExchange(server, query('web.internal'));
  assert.equal(rcodeOf(after!), 0);
  assert.equal(dnsPacket.decode(after!).answers!.length, 1);
});

test('truncated packets, huge counts, compression loops, bad question counts: FORMERR; other opcodes: NOTIMP; responses: silence', async () => {
  const server = await start();
  const valid = query('web.internal', 0x4242);
  for (let length = 12; length < valid.length; length += 1) {
    const reply = await udpExchange(server, valid.subarray(0, length));
    assert.equal(rcodeOf(reply!), 1, `prefix of ${length} bytes`);
    assert.equal(reply!.readUInt16BE(0), 0x4242);
  }
  const huge = Buffer.from(valid);
  huge.writeUInt16BE(0xffff, 4);
  huge.writeUInt16BE(0xffff, 6);
  huge.writeUInt16BE(0xffff, 8);
  huge.writeUInt16BE(0xffff, 10);
  assert.equal(rcodeOf((await udpExchange(server, huge))!), 1, 'counts far beyond the packet');
  const header = valid.subarray(0, 12);
  const selfLoop = Buffer.concat([header, Buffer.from([0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01])]);
  assert.equal(rcodeOf((await udpExchange(server, selfLoop))!), 1, 'a name pointing at itself');
  const pingPong = Buffer.concat([header, Buffer.from([0x01, 0x61, 0xc0, 0x10, 0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01])]);
  assert.equal(rcodeOf((await udpExchange(server, pingPong))!), 1, 'two pointers pointing at each other');
  const none = Buffer.from(header);
  none.writeUInt16BE(0, 4);
  assert.equal(rcodeOf((await udpExchange(server, none))!), 1, 'no question');
  const two = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'AAAA', name: 'web.internal' }, { type: 'TXT', name: '_apps.internal' }] });
  assert.equal(rcodeOf((await udpExchange(server, two))!), 1, 'two questions');
  const status = Buffer.from(valid);
  status[2] = (2 << 3) | 1;
  assert.equal(rcodeOf((await udpExchange(server, status))!), 4, 'opcode STATUS');
  const response = Buffer.from(valid);
  response[2]! |= 0x80;
  assert.equal(await udpExchange(server, response, '127.0.0.1', 300), null, 'a response is never answered');
  const longLabel = await udpExchange(server, query(`${'x'.repeat(63)}.${'y'.repeat(63)}.${'z'.repeat(63)}.internal`));
  assert.equal(rcodeOf(longLabel!), 3);
});

test('TCP: garbage, empty and half-sent messages do not disturb other connections', { timeout: 20_000 }, async () => {
  const server = await start({ limits: { tcpIdleTimeoutMs: 500 } });
  const connect = (): Promise<net.Socket> => new Promise((resolve) => { const s = net.connect(server.port, server.host, () => resolve(s)); s.on('error', () => undefined); });
  const garbage = await connect();
  garbage.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5, 0x00, 0x00]));
  const half = await connect();
  half.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
  const idleClosed = new Promise((resolve) => half.on('close', resolve));
  const good = await connect();
  const framed = query('web.internal', 0x7777);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(framed.length);
  const reply = new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    good.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) resolve(got.subarray(2));
    });
  });
  // Sent in two pieces, split inside the length prefix.
  good.write(Buffer.concat([length, framed]).subarray(0, 1));
  good.write(Buffer.concat([length, framed]).subarray(1));
  const decoded = dnsPacket.decode(await reply);
  assert.equal(decoded.id, 0x7777);
  assert.equal(decoded.answers!.length, 1);
  await idleClosed;
  for (const s of [garbage, half, good]) s.destroy();
});

test('one source flooding is refused past its rate while another source is still answered', async () => {
  const server = await start({ limits: { sourceQueriesPerSecond: 5, sourceQueriesBurst: 10 } });
  let refused = 0;
  for (let i = 0; i < 40; i += 1) {
    const reply = await udpExchange(server, query('web.internal', i), '127.0.0.2');
    if (rcodeOf(reply!) === 5) refused += 1;
  }
  assert.ok(refused >= 20, `refused ${refused} of 40`);
  const other = await udpExchange(server, query('web.internal'), '127.0.0.3');
  assert.equal(rcodeOf(other!), 0);
  assert.equal(dnsPacket.decode(other!).answers!.length, 1);
});

test('forwarded questions are bounded per source and time out as SERVFAIL; internal names stay fast meanwhile', async () => {
  const silent = await startFakeUpstream({ silent: true });
  closers.push(silent.close);
  const server = await start({ upstream: [{ host: '127.0.0.1', port: silent.port }], limits: { sourceForwardsInFlightMax: 2, upstreamTimeoutMs: 1500 } });
  const started = performance.now();
  const forwards = Array.from({ length: 5 }, (_, i) => udpExchange(server, query(`slow${i}.example`, 100 + i, 'A'), '127.0.0.4', 5000));
  const internal = await udpExchange(server, query('web.internal'), '127.0.0.5');
  const internalMs = performance.now() - started;
  assert.equal(rcodeOf(internal!), 0);
  const codes = (await Promise.all(forwards)).map((r) => rcodeOf(r!)).sort();
  assert.deepEqual(codes, [2, 2, 5, 5, 5], 'two SERVFAIL after the timeout, three REFUSED at once');
  assert.ok(internalMs < 1500, `internal answer took ${internalMs} ms while forwards waited`);
});

test('without a default organization, askers outside 6PN are refused; without upstreams, other names are refused', async () => {
  const server = await start({ defaultOrg: undefined });
  assert.equal((await dig(server, 'web.internal', 'AAAA')).status, 'REFUSED');
  assert.equal((await dig(server, 'example.com', 'A')).status, 'REFUSED');
  const withOrg = await start();
  assert.equal((await dig(withOrg, 'example.com', 'A')).status, 'REFUSED');
  await eventually('dev askers answered with the default org', async () => (await dig(withOrg, 'web.internal', 'AAAA')).answers.length === 1);
});

test('bad options are refused with a clear error', async () => {
  await assert.rejects(start({ defaultOrg: 0 }), /defaultOrg must be an organization number/);
  await assert.rejects(start({ listen: [{ host: 'localhost', port: 0 }] }), /must be an IP address/);
  await assert.rejects(start({ listen: [{ host: '192.0.2.53', port: 0 }] }), (err: Error & { code?: string; hint?: string }) => err.code === 'dns_listen_failed' && /not an address of this host/.test(err.hint ?? ''));
});

test('TCP: pipelined queries all get answers through a small in-flight bound; connections per source are capped', { timeout: 20_000 }, async () => {
  const server = await start({ limits: { tcpQueriesInFlightMax: 4, sourceTcpConnectionsMax: 2 } });
  const connect = (): Promise<net.Socket> => new Promise((resolve) => { const s = net.connect(server.port, server.host, () => resolve(s)); s.on('error', () => undefined); });
  const first = await connect();
  const framed = Buffer.concat(Array.from({ length: 50 }, (_, i) => {
    const q = query(i % 2 === 0 ? 'web.internal' : 'nope.internal', 1000 + i);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(q.length);
    return Buffer.concat([length, q]);
  }));
  const ids = new Promise<number[]>((resolve) => {
    let got = Buffer.alloc(0);
    const seen: number[] = [];
    first.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        seen.push(got.readUInt16BE(2));
        got = got.subarray(2 + got.readUInt16BE(0));
      }
      if (seen.length === 50) resolve(seen);
    });
  });
  first.write(framed);
  assert.deepEqual((await ids).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => 1000 + i));
  const second = await connect();
  const third = await connect();
  await new Promise((resolve) => third.on('close', resolve));
  assert.ok(!second.destroyed, 'the second connection stays open');
  for (const s of [first, second, third]) s.destroy();
});
