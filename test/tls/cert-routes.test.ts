/**
 * The certificate routes and table without an ACME server: a platform without a directory says
 * so when asked for a certificate; a hostname belongs to one app; a failed issuance may be asked
 * for again; and deleting an app takes its certificates with it and tells the proxies (the
 * version moves even though the rows went by cascade).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { CentralStore, CertificateStore, createApiServer } from '../../src/api/index.ts';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { Keyring, mintToken } from '../../src/tokens/index.ts';

let dir: string;
let central: CentralStore;
let certs: CertificateStore;
let api: FastifyInstance;
let token: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-certs-'));
  central = new CentralStore(join(dir, 'central.sqlite'));
  central.ensureOrg('personal', 'Personal');
  for (const name of ['web', 'shop']) central.createApp({ id: name, name, org_slug: 'personal', network: 'default', created_at: 0 });
  certs = new CertificateStore(join(dir, 'central.sqlite'));
  const keyring = new Keyring(systemClock);
  keyring.generate();
  token = mintToken({ keyring, org: 'personal' });
  api = createApiServer({ store: central, keyring, defaultRegion: 'dev', registryHost: 'registry.invalid', logger: silentLogger(), certificates: { store: certs, platformDomain: 'aloft.localhost' } });
  await api.ready();
});

after(async () => {
  await api.close();
  certs.close();
  central.close();
  await rm(dir, { recursive: true, force: true });
});

describe('certificate routes without ACME', () => {
  it('say the platform has no ACME directory, and how to give it one', async () => {
    const res = await api.inject({ method: 'POST', url: '/v1/apps/web/certificates', headers: { authorization: `Bearer ${token}` }, payload: { hostname: 'www.example.com' } });
    assert.equal(res.statusCode, 422);
    const body = res.json() as { code: string; fault: string; hint: string };
    assert.equal(body.code, 'acme_not_configured');
    assert.equal(body.fault, 'config');
    assert.match(body.hint, /--acme-directory/);
    assert.equal(certs.find('www.example.com'), undefined, 'nothing is claimed');
  });

  it('give a hostname to one app, and let a failed one be asked for again', () => {
    const claimed = certs.claim('www.example.com', 'web', 1);
    assert.equal(claimed.created, true);
    assert.throws(() => certs.claim('www.example.com', 'shop', 2), /already has a certificate for another app/);
    certs.markFailed('www.example.com', 'the CA could not connect', 3);
    const again = certs.claim('www.example.com', 'web', 4);
    assert.equal(again.created, false);
    assert.equal(again.row.status, 'pending');
    assert.equal(again.row.error, null);
  });

  it('delete the certificates of a deleted app and move the version for the proxies', async () => {
    certs.markReady('www.example.com', 'CERT', 'KEY', Date.now() + 1e9, 5);
    assert.deepEqual(certs.ready().map((c) => c.hostname), ['www.example.com']);
    const before = certs.version();
    central.deleteApp('web');
    assert.equal(certs.find('www.example.com'), undefined);
    assert.ok(certs.version() > before, 'the cascade counts as a change');
    const list = await api.inject({ method: 'GET', url: '/v1/apps/shop/certificates', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(list.json(), []);
  });
});
