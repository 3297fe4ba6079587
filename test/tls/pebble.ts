/**
 * Pebble (Let's Encrypt's ACME test server, Debian package `pebble`) run by a test on loopback:
 * pebble-challtestsrv answers every DNS A query with 127.0.0.1, so Pebble's validation of any
 * hostname reaches the proxy under test on `httpPort`. Pebble's own HTTPS listener gets a
 * certificate from a throwaway internal CA, whose certificate the ACME client must trust.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { InternalCa } from '../../src/proxy/tls/index.ts';
import { eventually } from '../helpers/eventually.ts';

export interface Pebble {
  directoryUrl: string;
  /** Trust this for Pebble's own HTTPS (the ACME API). */
  apiCaPem: string;
  /** The root Pebble issues under: trust this to verify issued certificates. */
  issuingRoot(): Promise<string>;
  stop(): Promise<void>;
}

/** A loopback port free right now (Pebble's ports are fixed in its config, so they are picked first). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts Pebble validating http-01 on 127.0.0.1:`httpPort`. */
export async function startPebble(httpPort: number): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-pebble-'));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ca = await InternalCa.loadOrCreate(join(dir, 'ca'), 'Pebble listener test CA');
    const listener = await ca.issue(['127.0.0.1', 'localhost']);
    await writeFile(join(dir, 'cert.pem'), listener.certPem);
    await writeFile(join(dir, 'key.pem'), listener.keyPem);
    const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    await writeFile(
      join(dir, 'pebble.json'),
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${mgmtPort}`,
          certificate: join(dir, 'cert.pem'),
          privateKey: join(dir, 'key.pem'),
          httpPort,
          tlsPort: await freePort(),
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    const output: string[] = [];
    const keep = (c: ChildProcess): ChildProcess => {
      c.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
      c.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
      children.push(c);
      return c;
    };
    keep(
      spawn('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmtPort}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    keep(
      spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
        // No sleeps before validation, and no random nonce rejections: the test is about us, not retries.
        env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_VA_ALWAYS_VALID: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const dispatcher = new Agent({ connect: { ca: ca.certPem } });
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await eventually(`pebble to listen (output: ${output.join('')})`, async () => (await request(directoryUrl, { dispatcher })).statusCode === 200, 15_000, 100);
    return {
      directoryUrl,
      apiCaPem: ca.certPem,
      async issuingRoot() {
        const res = await request(`https://127.0.0.1:${mgmtPort}/roots/0`, { dispatcher });
        return res.body.text();
      },
      async stop() {
        await dispatcher.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
