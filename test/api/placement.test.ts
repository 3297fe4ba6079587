/**
 * Placement against a real agent (process driver, loopback) and hosts that do not answer: a TCP
 * listener that accepts and never replies, and the same agent behind a relay that holds its
 * answers past the placement deadline. A host that does not answer in time is passed over as
 * unreachable, and what it grants later is released.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentClient, startHostAgent, type HostAgent } from '../../src/agent/index.ts';
import { placeMachine, placementDeadlineMs } from '../../src/api/placement.ts';
import type { HostRow } from '../../src/api/store.ts';
import { AloftError, silentLogger, systemClock } from '../../src/lib/index.ts';
import { Keyring, mintPlatformToken, RevocationList } from '../../src/tokens/index.ts';
import { eventually } from '../helpers/eventually.ts';

const keyring = new Keyring(systemClock);
keyring.rotate();
const platformToken = (): string => mintPlatformToken(keyring, ['read', 'write'], Date.now());
/** How long the slow relay holds each answer of the agent: well past the deadline. */
const slowAnswerMs = placementDeadlineMs + 1_000;
const request = { cpus: 1, memoryMb: 256 };

let dir: string;
let agent: HostAgent;
let silent: { url: string; close(): Promise<void> };
let slow: { url: string; close(): Promise<void> };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-placement-'));
  agent = await startHostAgent(
    { dataDir: dir, hostId: 'iad-1', hostNum: 1, region: 'iad', registry: { url: 'http://127.0.0.1:9' }, driver: 'process', keyring, revocations: new RevocationList(), logger: silentLogger(), capacity: { cpus: 8, memoryMb: 4096 } },
    0,
    '127.0.0.1',
  );
  silent = await listen(() => undefined);
  // The agent, with every chunk of its answers held back.
  const agentAddress = new URL(agent.url);
  slow = await listen((client) => {
    const upstream = net.connect(Number(agentAddress.port), agentAddress.hostname);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => setTimeout(() => client.write(chunk), slowAnswerMs));
    upstream.on('error', () => client.destroy());
    client.on('close', () => setTimeout(() => upstream.destroy(), slowAnswerMs * 2));
  });
});

after(async () => {
  await silent?.close();
  await slow?.close();
  await agent?.stop(true);
  await rm(dir, { recursive: true, force: true });
});

/** A loopback listener whose connections `onConnection` handles (or leaves open, unanswered). */
async function listen(onConnection: (socket: net.Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const host = (id: string, url: string): HostRow => ({ id, region: 'iad', agent_url: url }) as HostRow;
const agentOf = (h: HostRow): AgentClient => new AgentClient(h.agent_url, platformToken, h.id);
const reservedCpus = async (): Promise<number> => (await agentOf(host('iad-1', agent.url)).host()).used.cpus;

test('a host that accepts and never answers does not hold placement: the other host takes the machine within the deadline', async () => {
  const started = performance.now();
  const placed = await placeMachine('iad', [host('iad-0', silent.url), host('iad-1', agent.url), host('iad-2', slow.url)], agentOf, request);
  const elapsed = performance.now() - started;
  assert.equal(placed.host.id, 'iad-1');
  assert.ok(elapsed < placementDeadlineMs + 1_000, `placed in ${Math.round(elapsed)} ms (deadline ${placementDeadlineMs} ms)`);
  // iad-2 (the same agent, answering late) granted a reservation after the deadline: it is released.
  await eventually('the late grant to be released', async () => (await reservedCpus()) === request.cpus, slowAnswerMs * 3);
  await agentOf(placed.host).release(placed.reservationId);
  assert.equal(await reservedCpus(), 0);
});

test('when the only host of a region does not answer, placement fails within the deadline as a platform fault naming it unreachable', async () => {
  const started = performance.now();
  const err = await placeMachine('iad', [host('iad-0', silent.url)], agentOf, request).then(
    () => assert.fail('placed on a host that never answered'),
    (e: unknown) => e as AloftError,
  );
  const elapsed = performance.now() - started;
  assert.ok(err instanceof AloftError);
  assert.equal(err.fault, 'platform');
  assert.deepEqual(err.details.hosts, { 'iad-0': 'unreachable' });
  assert.match(err.message, /iad-0: unreachable/);
  assert.ok(elapsed < placementDeadlineMs + 1_000, `refused in ${Math.round(elapsed)} ms (deadline ${placementDeadlineMs} ms)`);
});
