/**
 * The API certificate source against a stand-in feed on loopback: it hands over what the feed
 * says, long-polls with the version it holds, keeps serving what it has while the API is down,
 * and picks up the next change once the API is back.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { ApiCertificateSource, type TlsMaterial } from '../../src/proxy/tls/index.ts';
import { eventually } from '../helpers/eventually.ts';

let version = 1;
const seen: string[] = [];

function feed(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${url.pathname}?after=${url.searchParams.get('after')} ${req.headers.authorization ?? ''}`);
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ version, hostnames: [{ hostname: `v${version}.example.com`, app: 'web' }], certificates: [], challenges: [] }),
      );
    };
    // Hold a poll that already has the current version, as the API does (briefly, for the test).
    if (Number(url.searchParams.get('after')) === version) setTimeout(answer, 100);
    else answer();
  });
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

let source: ApiCertificateSource | undefined;
after(async () => {
  await source?.close();
});

describe('ApiCertificateSource', () => {
  it('follows the feed, keeps the last material while the API is down, and resumes', async () => {
    let server = feed();
    const port = await listen(server);
    let token = 0;
    source = new ApiCertificateSource({ apiUrl: `http://127.0.0.1:${port}`, token: () => `t${++token}`, logger: silentLogger() });
    const received: TlsMaterial[] = [];
    source.subscribe((m) => received.push(m));
    await eventually('the first material', () => received.length === 1);
    assert.deepEqual(received[0]!.hostnames, [{ hostname: 'v1.example.com', app: 'web' }]);
    await eventually('a poll holding version 1', () => seen.some((s) => s.startsWith('/v1/platform/tls?after=1 ')));
    assert.ok(seen.every((s) => /Bearer t\d+$/.test(s)), 'a fresh token for every poll');

    await close(server);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(received.length, 1, 'nothing new, nothing lost while the API is down');

    version = 2;
    server = feed();
    await listen(server, port);
    await eventually('the change after the API is back', () => received.length === 2, 15_000);
    assert.deepEqual(received[1]!.hostnames, [{ hostname: 'v2.example.com', app: 'web' }]);
    const late: TlsMaterial[] = [];
    source.subscribe((m) => late.push(m));
    assert.equal(late.length, 1, 'a new subscriber gets the current material at once');
    await source.close();
    source = undefined;
    await close(server);
  });
});
