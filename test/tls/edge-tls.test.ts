/**
 * The internal CA and SNI selection without a proxy: one CA per directory even when several
 * processes race to make it, certificates that verify against it for DNS names and IPs, and
 * EdgeTls choosing issued certificates over the internal CA, refusing names it cannot vouch
 * for, and surviving a bad certificate in its feed.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { EdgeTls, InternalCa } from '../../src/proxy/tls/index.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-ca-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sni(tls: EdgeTls, name: string): Promise<SecureContext> {
  return new Promise((resolve, reject) => tls.SNICallback(name, (err, ctx) => (err === null && ctx !== undefined ? resolve(ctx) : reject(err ?? new Error('no context')))));
}

describe('internal CA', () => {
  it('is made once per directory, even by concurrent callers, with its key readable by the owner only', async () => {
    const cas = await Promise.all([0, 1, 2, 3].map(() => InternalCa.loadOrCreate(join(dir, 'race'))));
    assert.equal(new Set(cas.map((c) => c.certPem)).size, 1);
    assert.equal((await stat(join(dir, 'race', 'ca.bundle.pem'))).mode & 0o777, 0o600);
    const again = await InternalCa.loadOrCreate(join(dir, 'race'));
    assert.equal(again.certPem, cas[0]!.certPem);
  });

  it('issues certificates for DNS names and IPs that verify against it', async () => {
    const ca = await InternalCa.loadOrCreate(join(dir, 'issue'));
    const leaf = await ca.issue(['web.aloft.localhost', '127.0.0.1']);
    const cert = new X509Certificate(leaf.certPem);
    const root = new X509Certificate(ca.certPem);
    assert.ok(cert.verify(root.publicKey));
    assert.ok(cert.checkIssued(root));
    assert.equal(cert.checkHost('web.aloft.localhost'), 'web.aloft.localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('other.aloft.localhost'), undefined);
    assert.ok(Math.abs(Date.parse(cert.validTo) - leaf.notAfterMs) < 2_000);
    assert.equal(root.ca, true);
    assert.equal(cert.ca, false);
  });
});

describe('EdgeTls', () => {
  it('prefers issued certificates, falls back to the internal CA under the domain, refuses the rest', async () => {
    const ca = await InternalCa.loadOrCreate(join(dir, 'edge'));
    const issuer = await InternalCa.loadOrCreate(join(dir, 'public'), 'Some public CA');
    const shop = await issuer.issue(['shop.example.com']);
    const tls = new EdgeTls({ domain: 'aloft.localhost', internalCa: ca, logger: silentLogger() });
    tls.apply({
      version: 1,
      hostnames: [{ hostname: 'shop.example.com', app: 'shop' }, { hostname: 'pending.example.com', app: 'shop' }],
      certificates: [
        { hostname: 'broken.example.com', certPem: 'not a certificate', keyPem: 'nor a key' },
        { hostname: 'shop.example.com', certPem: shop.certPem, keyPem: shop.keyPem },
      ],
      challenges: [{ token: 'tok', hostname: 'shop.example.com', keyAuthorization: 'tok.thumb' }],
    });
    assert.deepEqual(tls.hostnames(), ['shop.example.com'], 'the broken certificate is skipped, the good one kept');
    assert.ok(await sni(tls, 'SHOP.example.com'));
    // One wildcard certificate serves every app under the domain (and the domain itself): random
    // names cost no signing, even when they arrive at once.
    const [web, api, bare] = await Promise.all([sni(tls, 'web.aloft.localhost'), sni(tls, 'api.aloft.localhost'), sni(tls, 'aloft.localhost')]);
    assert.ok(web === api && api === bare);
    await assert.rejects(sni(tls, 'unknown.example.com'), /no certificate for 'unknown.example.com'/);
    await assert.rejects(sni(tls, 'bad_label.aloft.localhost'), /no certificate/);
    await assert.rejects(sni(tls, 'two.labels.aloft.localhost'), /no certificate/, 'the wildcard covers one label only');
    await assert.rejects(sni(tls, 'broken.example.com'), /no certificate/);
    assert.equal(tls.appFor('pending.example.com'), 'shop');
    assert.equal(tls.appFor('nobody.example.com'), undefined);
    assert.equal(tls.httpChallenge('tok', 'shop.example.com:80'), 'tok.thumb');
    assert.equal(tls.httpChallenge('tok', 'evil.example.com'), undefined, 'a token answers only for its own hostname');
    tls.apply({ version: 2, hostnames: [], certificates: [], challenges: [] });
    await assert.rejects(sni(tls, 'shop.example.com'), /no certificate/);
    assert.equal(tls.httpChallenge('tok', 'shop.example.com'), undefined);
  });

  it('without an internal CA serves only issued certificates', async () => {
    const tls = new EdgeTls({ domain: 'aloft.localhost', logger: silentLogger() });
    await assert.rejects(sni(tls, 'web.aloft.localhost'), /no certificate/);
  });
});
