/**
 * Organization isolation with real 6PN source addresses: a namespace of our own holds fdaa::3
 * (where the DNS listens, as in production) and addresses of two organizations; `dig -b`
 * asks from each. Needs root for the namespace.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { sixpnAddress } from '../../src/net/index.ts';
import { skipWithoutNetworkNamespaces } from '../helpers/root-prerequisites.ts';
import { dig, type MachineRow } from './helpers.ts';

const skip = await skipWithoutNetworkNamespaces();
const ns = `aloftdns-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'aloft-dns-netns-'));
const orgA = 0xa1;
const orgB = 0xb2;
const askerA = sixpnAddress(orgA, 9, 5, 2);
const askerB = sixpnAddress(orgB, 9, 5, 2);
const outsider = 'fd00:99::1';
const rows: MachineRow[] = [
  { id: 'a1', app: 'alpha', region: 'ams', state: 'started', ip: sixpnAddress(orgA, 1, 1, 2) },
  { id: 'a2', app: 'shared-name', region: 'ams', state: 'started', ip: sixpnAddress(orgA, 1, 2, 2) },
  { id: 'b1', app: 'beta', region: 'iad', state: 'started', ip: sixpnAddress(orgB, 2, 1, 2) },
  { id: 'b2', app: 'shared-name', region: 'iad', state: 'started', ip: sixpnAddress(orgB, 2, 2, 2) },
];
const server = { host: 'fdaa::3', port: 53 };
let child: ChildProcess | undefined;
let nsCreated = false;

before(async () => {
  if (skip !== false) return;
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  nsCreated = true;
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  for (const address of ['fdaa::3', askerA, askerB, outsider]) ip('-n', ns, 'addr', 'add', `${address}/128`, 'dev', 'lo', 'nodad');
  child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(import.meta.dirname, 'fixtures', 'dns-in-netns.ts'), JSON.stringify({ dataDir: join(dir, 'state'), rows })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    child!.once('exit', (code) => reject(new Error(`DNS in the namespace exited with ${code}: ${stderr}`)));
  });
});

after(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child!.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (nsCreated) execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

const inNs = ['ip', 'netns', 'exec', ns];
const ask = (from: string, name: string, type: string, extra: string[] = []) => dig(server, name, type, ['-b', from, ...extra], inNs);
const data = (r: Awaited<ReturnType<typeof dig>>): string[] => r.answers.map((a) => a.data);

test('each organization sees only its own apps, asked from real 6PN sources at fdaa::3:53', { skip }, async () => {
  assert.deepEqual(data(await ask(askerA, 'alpha.internal', 'AAAA')), [sixpnAddress(orgA, 1, 1, 2)]);
  assert.equal((await ask(askerA, 'beta.internal', 'AAAA')).status, 'NXDOMAIN');
  assert.deepEqual(data(await ask(askerA, 'shared-name.internal', 'AAAA', ['+tcp'])), [sixpnAddress(orgA, 1, 2, 2)]);
  assert.deepEqual(data(await ask(askerA, '_apps.internal', 'TXT')), ['"alpha,shared-name"']);

  assert.deepEqual(data(await ask(askerB, 'beta.internal', 'AAAA')), [sixpnAddress(orgB, 2, 1, 2)]);
  assert.equal((await ask(askerB, 'alpha.internal', 'AAAA', ['+tcp'])).status, 'NXDOMAIN');
  assert.deepEqual(data(await ask(askerB, 'shared-name.internal', 'AAAA')), [sixpnAddress(orgB, 2, 2, 2)]);
  assert.deepEqual(data(await ask(askerB, 'vms.shared-name.internal', 'TXT')), ['"b2 iad"']);
});

test('an asker outside 6PN gets REFUSED when no default organization is configured', { skip }, async () => {
  assert.equal((await ask(outsider, 'alpha.internal', 'AAAA')).status, 'REFUSED');
  assert.equal((await ask(outsider, 'beta.internal', 'AAAA', ['+tcp'])).status, 'REFUSED');
});
