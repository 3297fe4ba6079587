import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { DelayRelay } from '../../src/net/index.ts';
import { eventually } from '../helpers/eventually.ts';

// Each side of the relay is told apart by its address, so the two ends use two loopback addresses.
const sockets: Socket[] = [];
const relays: DelayRelay[] = [];
after(() => {
  for (const s of sockets) s.close();
  for (const r of relays) r.close();
});

async function bound(address: string): Promise<{ socket: Socket; port: number; received: { at: number; text: string }[] }> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  const received: { at: number; text: string }[] = [];
  socket.on('message', (msg) => received.push({ at: performance.now(), text: msg.toString() }));
  socket.bind(0, address);
  await once(socket, 'listening');
  return { socket, port: socket.address().port, received };
}

async function relayBetween(a: { port: number }, b: { port: number }, oneWayDelayMs: number, queueDatagramsMax?: number): Promise<number> {
  const relay = await DelayRelay.start([{ port: 0, a: { address: '127.0.0.2', port: a.port }, b: { address: '127.0.0.3', port: b.port }, oneWayDelayMs }], queueDatagramsMax === undefined ? {} : { queueDatagramsMax });
  relays.push(relay);
  return relay.ports()[0]!;
}

function send(socket: Socket, text: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

test('each datagram is held for the one-way delay, both ways, and arrives from the relay', async () => {
  const a = await bound('127.0.0.2');
  const b = await bound('127.0.0.3');
  const port = await relayBetween(a, b, 120);
  const sentAt = performance.now();
  await send(a.socket, 'ping', port);
  await eventually('b to receive', () => b.received.length === 1, 5_000, 5);
  const there = b.received[0]!.at - sentAt;
  assert.ok(there >= 119, `held ${there} ms, not less than the delay`);
  assert.ok(there < 120 + 150, `held ${there} ms`);
  const repliedAt = performance.now();
  await send(b.socket, 'pong', port);
  await eventually('a to receive', () => a.received.length === 1, 5_000, 5);
  assert.equal(a.received[0]!.text, 'pong');
  assert.ok(a.received[0]!.at - repliedAt >= 119);
});

test('a datagram from neither side is dropped and counted; a full queue drops the rest', async () => {
  const a = await bound('127.0.0.2');
  const b = await bound('127.0.0.3');
  const stranger = await bound('127.0.0.4');
  const relay = await DelayRelay.start([{ port: 0, a: { address: '127.0.0.2', port: a.port }, b: { address: '127.0.0.3', port: b.port }, oneWayDelayMs: 1_000 }], { queueDatagramsMax: 5 });
  relays.push(relay);
  const port = relay.ports()[0]!;
  await send(stranger.socket, 'intruder', port);
  // One at a time, so the relay reads each before the next (a burst could overflow the socket buffer instead).
  for (let i = 0; i < 12; i += 1) {
    await send(a.socket, `m${i}`, port);
    await eventually('the relay to read it', () => relay.counters().queued + relay.counters().dropped_queue_full === i + 1, 2_000, 1);
  }
  await eventually('the queue to drain', () => b.received.length === 5, 5_000, 10);
  assert.deepEqual(b.received.map((r) => r.text), ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.deepEqual(relay.counters(), { queued: 5, forwarded: 5, dropped_queue_full: 7, dropped_unknown_sender: 1, send_errors: 0 });
});
