/**
 * TLS end to end on one platform: `aloft certs add` obtains a certificate from Pebble (run here
 * on loopback, validating http-01 against the proxy's HTTP port), every proxy gets it, and curl
 * reaches the app over the TLS port by SNI with Pebble's root; `<app>.aloft.localhost` is served
 * with the internal CA; unknown names are refused in the handshake; bad hostnames and another
 * organization's token are refused; removal stops serving the certificate.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { promisify } from 'node:util';
import { request } from 'undici';
import { writeExampleRootfs } from '../../src/build/index.ts';
import type { Machine } from '../../src/lib/index.ts';
import { mintPlatformToken, mintToken } from '../../src/tokens/index.ts';
import { cliJson, runCli } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { freePort, startPebble, type Pebble } from './pebble.ts';

const app = 'tls-web';
const hostname = 'www.tls-e2e.example.com';
let p: TestPlatform;
let pebble: Pebble;
let work: string;
let pebbleRoot: string;

const run = promisify(execFile);

interface CurlResult {
  /** curl's exit code: 0 once TLS and HTTP went through, 35 for a refused handshake, 60 for an untrusted certificate. */
  code: number;
  /** The HTTP status (0 without a response). */
  status: number;
  body: string;
  stderr: string;
}

/** curl to the proxy's TLS port for `name` (SNI and Host), resolved to loopback, trusting `caFile`. */
async function curlTls(name: string, caFile: string): Promise<CurlResult> {
  const port = new URL(p.endpoints.tls!).port;
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', '--resolve', `${name}:${port}:127.0.0.1`, '--cacert', caFile, `https://${name}:${port}/cgi-bin/machine`]);
    const cut = stdout.lastIndexOf('\n');
    return { code: 0, status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, status: 0, body: e.stdout, stderr: e.stderr };
  }
}

async function api(method: string, path: string, body?: unknown, token = p.endpoints.token): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${p.endpoints.api}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(['--data-dir', p.dataDir, ...args]);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aloft-tls-'));
  // Pebble validates on the proxy's HTTP port, so that port is chosen before either starts.
  const proxyPort = await freePort();
  pebble = await startPebble(proxyPort);
  p = await startTestPlatform({ proxyPort, acme: { directoryUrl: pebble.directoryUrl, caPem: pebble.apiCaPem } });
  pebbleRoot = join(work, 'pebble-root.pem');
  await writeFile(pebbleRoot, await pebble.issuingRoot());
  const rootfs = join(work, 'rootfs');
  await mkdir(rootfs);
  await writeExampleRootfs(rootfs);
  const imported = await cli(['images', 'import', rootfs, '--tag', 'tlsweb:v1', '--cmd', '/bin/sh /start.sh', '--port', '8080']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.equal((await cli(['apps', 'create', app])).code, 0);
});

after(async () => {
  await cli(['apps', 'destroy', app, '--yes']).catch(() => undefined);
  const agent = p?.platform.agent;
  if (agent !== undefined) await eventually('machines destroyed', () => agent.service.list().length === 0, 30_000).catch(() => undefined);
  await p?.stop();
  await pebble?.stop();
  if (p !== undefined) await rm(p.dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('TLS certificates', () => {
  let machine: Machine;

  it('serves <app>.aloft.localhost on the TLS port with the internal CA', async () => {
    const created = await api('POST', `/v1/apps/${app}/machines`, {
      config: {
        image: 'tlsweb:v1',
        services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }, { port: 443, handlers: ['tls', 'http'] }] }],
      },
    });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    machine = created.json as unknown as Machine;
    await api('GET', `/v1/apps/${app}/machines/${machine.id}/wait?state=started&timeout=60`);
    assert.ok(p.endpoints.tls !== undefined && p.endpoints.ca_cert !== undefined, 'endpoints.json names the TLS port and the CA');
    const r = await eventually('the TLS port to serve the app', async () => {
      const c = await curlTls(`${app}.aloft.localhost`, p.endpoints.ca_cert!);
      return c.code === 0 && c.status === 200 ? c : undefined;
    }, 20_000, 200);
    assert.equal(r.body.trim(), `machine ${machine.id}`);
  });

  it('refuses the handshake for a name it has no certificate for', async () => {
    const r = await curlTls('unknown.example.org', p.endpoints.ca_cert!);
    assert.equal(r.code, 35, `curl should fail the TLS handshake: ${r.stderr}`);
  });

  it('refuses bad hostnames with the reason', async () => {
    for (const [bad, why] of [
      ['*.tls-e2e.example.com', /wildcard/],
      ['127.0.0.1', /IP address/],
      [`${app}.aloft.localhost`, /platform's own domain/],
      ['under_score.example.com', /not a valid DNS name/],
      ['localhost', /not a valid DNS name|localhost/],
      ['a'.repeat(64) + '.example.com', /not a valid DNS name/],
    ] as const) {
      const r = await api('POST', `/v1/apps/${app}/certificates`, { hostname: bad });
      assert.equal(r.status, 422, `${bad}: ${JSON.stringify(r.json)}`);
      assert.match(String(r.json.error), why);
      assert.equal((r.json.details as { field?: string } | undefined)?.field ?? r.json.field, 'hostname');
    }
  });

  it("refuses another organization's token", async () => {
    const rival = mintToken({ keyring: p.keyring, org: 'rival' });
    const add = await api('POST', `/v1/apps/${app}/certificates`, { hostname }, rival);
    assert.equal(add.status, 403, JSON.stringify(add.json));
    const list = await api('GET', `/v1/apps/${app}/certificates`, undefined, rival);
    assert.equal(list.status, 403);
    // Nor may a user's token read the proxies' feed with every private key in it.
    const feed = await api('GET', '/v1/platform/tls?wait=0');
    assert.equal(feed.status, 403);
  });

  it('obtains a certificate from Pebble by http-01 and serves it by SNI', async () => {
    const started = performance.now();
    const cert = await cliJson<{ hostname: string; status: string; expires_at: string }>(['--data-dir', p.dataDir, 'certs', 'add', hostname, '-a', app]);
    const issuedMs = Math.round(performance.now() - started);
    assert.equal(cert.status, 'ready');
    assert.ok(Date.parse(cert.expires_at) > Date.now());
    process.stderr.write(`# ACME issuance through Pebble: ${issuedMs} ms\n`);
    const r = await eventually('the proxy to serve the issued certificate', async () => {
      const c = await curlTls(hostname, pebbleRoot);
      return c.code === 0 && c.status === 200 ? c : undefined;
    }, 20_000, 200);
    assert.equal(r.body.trim(), `machine ${machine.id}`);
    // The certificate really is Pebble's: the internal CA does not vouch for it.
    assert.equal((await curlTls(hostname, p.endpoints.ca_cert!)).code, 60);
    // The custom hostname routes to its app over plain HTTP too.
    const plain = await request(`${p.endpoints.proxy}/cgi-bin/machine`, { headers: { host: hostname } });
    assert.equal((await plain.body.text()).trim(), `machine ${machine.id}`);
  });

  it('lists and shows it; the same app adding it again is idempotent, another app is refused', async () => {
    const list = await cliJson<{ hostname: string; status: string }[]>(['--data-dir', p.dataDir, 'certs', 'list', '-a', app]);
    assert.deepEqual(list.map((c) => [c.hostname, c.status]), [[hostname, 'ready']]);
    const shown = await cli(['certs', 'show', hostname, '-a', app]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /Status\s+ready/);
    const again = await api('POST', `/v1/apps/${app}/certificates`, { hostname });
    assert.equal(again.status, 200);
    assert.equal((await cli(['apps', 'create', 'tls-other'])).code, 0);
    const taken = await api('POST', '/v1/apps/tls-other/certificates', { hostname });
    assert.equal(taken.status, 409);
    assert.equal(taken.json.code, 'hostname_taken');
    assert.equal((await api('GET', `/v1/apps/tls-other/certificates/${hostname}`)).status, 404);
    assert.equal((await cli(['apps', 'destroy', 'tls-other', '--yes'])).code, 0);
  });

  it("holds the proxies' feed until something changes", async () => {
    const platformToken = mintPlatformToken(p.keyring, ['read'], Date.now());
    const now = await api('GET', '/v1/platform/tls?wait=0', undefined, platformToken);
    assert.equal(now.status, 200);
    assert.deepEqual((now.json.hostnames as { hostname: string; app: string }[]).map((h) => [h.hostname, h.app]), [[hostname, app]]);
    const version = now.json.version as number;
    let started = performance.now();
    const unchanged = await api('GET', `/v1/platform/tls?after=${version}&wait=600`, undefined, platformToken);
    assert.equal(unchanged.json.version, version);
    assert.ok(performance.now() - started >= 500, 'an unchanged feed is held for the wait');
    started = performance.now();
    const woken = api('GET', `/v1/platform/tls?after=${version}&wait=15000`, undefined, platformToken);
    assert.equal((await cli(['apps', 'create', 'tls-feed'])).code, 0);
    assert.equal((await api('POST', '/v1/apps/tls-feed/certificates', { hostname: 'feed.tls-e2e.example.com' })).status, 201);
    const changed = await woken;
    assert.ok((changed.json.version as number) > version);
    assert.ok(performance.now() - started < 10_000, 'a change answers the held poll');
    assert.equal((await cli(['apps', 'destroy', 'tls-feed', '--yes'])).code, 0);
  });

  it('answers only live ACME challenges on the HTTP port', async () => {
    const res = await request(`${p.endpoints.proxy}/.well-known/acme-challenge/not-a-token`, { headers: { host: hostname } });
    await res.body.dump();
    assert.equal(res.statusCode, 404);
  });

  it('finishes an issuance cut short by a restart', async () => {
    await p.stop({ keepMachines: true });
    // As a crash mid-issuance leaves it: the row pending, a stale challenge in the store.
    const db = new Database(join(p.dataDir, 'central.sqlite'));
    try {
      db.prepare(`INSERT INTO certificates (hostname, app, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)`).run('resumed.tls-e2e.example.com', app, Date.now(), Date.now());
      db.prepare(`INSERT INTO acme_challenges (token, hostname, key_authorization, created_at) VALUES ('stale', 'resumed.tls-e2e.example.com', 'x', 0)`).run();
    } finally {
      db.close();
    }
    p = await startTestPlatform({ dataDir: p.dataDir, proxyPort: Number(new URL(p.endpoints.proxy).port), acme: { directoryUrl: pebble.directoryUrl, caPem: pebble.apiCaPem } });
    await eventually('the resumed certificate to be issued', async () => (await api('GET', `/v1/apps/${app}/certificates/resumed.tls-e2e.example.com`)).json.status === 'ready', 30_000, 200);
    await eventually('the resumed certificate to be served', async () => (await curlTls('resumed.tls-e2e.example.com', pebbleRoot)).status === 200, 20_000, 200);
    const feed = await api('GET', '/v1/platform/tls?wait=0', undefined, mintPlatformToken(p.keyring, ['read'], Date.now()));
    assert.deepEqual(feed.json.challenges, [], 'the stale challenge is gone');
  });

  it('stops serving a removed certificate', async () => {
    const removed = await cli(['certs', 'remove', hostname, '-a', app, '--yes']);
    assert.equal(removed.code, 0, removed.stderr);
    await eventually('the handshake for the removed name to be refused', async () => (await curlTls(hostname, pebbleRoot)).code === 35, 20_000, 200);
    assert.equal((await api('GET', `/v1/apps/${app}/certificates/${hostname}`)).status, 404);
  });
});
