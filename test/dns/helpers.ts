import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import type { StateHandle } from '../../src/state/index.ts';

const run = promisify(execFile);

export interface MachineRow {
  id: string;
  app: string;
  region: string;
  state: string;
  ip: string;
  org?: string;
  processGroup?: string;
}

/** Writes a machine's row the way an agent publishes it (upsert by id). */
export function publishMachine(state: StateHandle, m: MachineRow): void {
  state.transaction([
    {
      sql: `INSERT INTO machines (id, app, org, host_id, region, state, private_ip, metadata, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET app = excluded.app, region = excluded.region, state = excluded.state, private_ip = excluded.private_ip, metadata = excluded.metadata, updated_at = excluded.updated_at`,
      params: [m.id, m.app, m.org ?? 'personal', `host-${m.region}`, m.region, m.state, m.ip, JSON.stringify(m.processGroup === undefined ? {} : { fly_process_group: m.processGroup }), Date.now()],
    },
  ]);
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: Array<{ name: string; ttl: number; type: string; data: string }>;
  authority: Array<{ name: string; type: string; data: string }>;
}

/** Runs `dig` (Debian dnsutils) against a server and parses the parts of its output tests read. */
export async function dig(server: { host: string; port: number }, name: string, type: string, extra: string[] = [], wrap: string[] = []): Promise<DigResult> {
  const args = [`@${server.host}`, '-p', String(server.port), name, type, '+tries=1', '+time=3', '+noall', '+comments', '+answer', '+authority', ...extra];
  const [file, ...rest] = [...wrap, 'dig', ...args];
  const { stdout } = await run(file!, rest, { timeout: 20_000 });
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NO-REPLY';
  const flags = /flags: ([a-z ]+);/.exec(stdout)?.[1]?.trim().split(/\s+/) ?? [];
  const records = stdout
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(';'))
    .map((l) => {
      const [rname, ttl, , rtype, ...data] = l.split(/\s+/);
      return { name: rname!, ttl: Number(ttl), type: rtype!, data: data.join(' ') };
    });
  return { status, flags, answers: records.filter((r) => r.type !== 'SOA'), authority: records.filter((r) => r.type === 'SOA') };
}

/** A stand-in upstream resolver on loopback: answers A questions with 192.0.2.1, or never when `silent`. */
export async function startFakeUpstream(options: { silent?: boolean } = {}): Promise<{ port: number; questions: string[]; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  const questions: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    questions.push(q.questions![0]!.name);
    if (options.silent === true) return;
    const reply = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.1' }] });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, questions, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** Sends one UDP message from `fromHost` and returns the reply, or null after `timeoutMs`. */
export async function udpExchange(server: { host: string; port: number }, message: Buffer, fromHost = '127.0.0.1', timeoutMs = 2000): Promise<Buffer | null> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, fromHost, resolve));
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(message, server.port, server.host);
    });
  } finally {
    socket.close();
  }
}
