// Our tokens are ordinary libmacaroons v2 macaroons: the `macaroon` npm package (js-macaroon)
// reads them, checks their signatures with the same root key, and attenuates them; and
// macaroons it builds are byte-for-byte what we mint.
//
// The published package's exportBinary doubles its buffer on every field written (it compares
// against an unset capacity: go-macaroon/js-macaroon#41, fixed upstream after 3.0.4 was
// released), so it can only serialize macaroons with a caveat or two. Where it adds caveats
// below, we serialize its fields with our own encoder; the signature it computed is what counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import macaroon from 'macaroon';
import { attenuate, mintToken, verifyToken } from '../../src/tokens/index.ts';
import { TOKEN_PREFIX, encodeToken } from '../../src/tokens/format.ts';
import type { Macaroon as JsMacaroon } from 'macaroon';
import { NOW_MS, assertRefused, newKeyring, request } from './helpers.ts';

const ring = newKeyring();
const key = ring.get(ring.currentId!)!;
const binaryOf = (token: string): Buffer => Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
/** Serializes a js-macaroon with our encoder (see the note at the top). */
const tokenOf = (m: JsMacaroon): string =>
  encodeToken({
    identifier: Buffer.from(m.identifier),
    caveats: m.caveats.map((c) => ({
      identifier: Buffer.from(c.identifier),
      ...(c.vid === undefined ? {} : { vid: Buffer.from(c.vid) }),
      ...(c.location === undefined ? {} : { location: c.location }),
    })),
    signature: Buffer.from(m.signature),
  });

const token = attenuate(mintToken({ keyring: ring, org: 'acme', tokenId: 'tok-1' }), [
  { type: 'apps', apps: ['web'] },
  { type: 'actions', actions: ['read'] },
  { type: 'expires', notAfterMs: NOW_MS + 3_600_000 },
  { type: 'registry', repositories: ['acme/web'], actions: ['pull'] },
]);

describe('interoperability with the macaroon npm package', () => {
  it('reads our token and verifies its signature with the same root key', () => {
    const m = macaroon.importMacaroon(binaryOf(token));
    assert.equal(text(m.identifier), `[1,"${key.id}","tok-1"]`);
    assert.deepEqual(
      m.caveats.map((c) => text(c.identifier)),
      [
        '[1,"org","acme"]',
        '[1,"apps",["web"]]',
        '[1,"actions",["read"]]',
        `[1,"expires",${NOW_MS + 3_600_000}]`,
        '[1,"registry",{"repositories":["acme/web"],"actions":["pull"]}]',
      ],
    );
    const seen: string[] = [];
    m.verify(key.secret, (condition) => {
      seen.push(condition);
      return null;
    });
    assert.equal(seen.length, 5);
  });

  it('its base64 decoder accepts our transport encoding once the prefix is removed', () => {
    const m = macaroon.importMacaroon(token.slice(TOKEN_PREFIX.length));
    assert.equal(tokenOf(m), token);
  });

  it('refuses our token under a different root key', () => {
    const m = macaroon.importMacaroon(binaryOf(token));
    assert.throws(() => m.verify(Buffer.alloc(32, 1), () => null), /signature mismatch/);
  });

  it('builds, from the same inputs, exactly the bytes we mint', () => {
    const ours = mintToken({ keyring: ring, org: 'acme', tokenId: 'tok-2' });
    const m = macaroon.newMacaroon({ identifier: `[1,"${key.id}","tok-2"]`, rootKey: key.secret, version: 2 });
    m.addFirstPartyCaveat('[1,"org","acme"]');
    assert.deepEqual(Buffer.from(m.exportBinary()), binaryOf(ours));
  });

  it('computes the same signature chain over many caveats', () => {
    const m = macaroon.newMacaroon({ identifier: `[1,"${key.id}","tok-1"]`, rootKey: key.secret, version: 2 });
    for (const c of macaroon.importMacaroon(binaryOf(token)).caveats) m.addFirstPartyCaveat(c.identifier);
    assert.equal(tokenOf(m), token);
  });

  it('a caveat it adds is enforced by our verifier', () => {
    const m = macaroon.importMacaroon(binaryOf(token));
    m.addFirstPartyCaveat('[1,"regions",["ams"]]');
    const narrowed = tokenOf(m);
    const req = request({ app: 'web', repository: 'acme/web', registryAction: 'pull' });
    assert.equal(verifyToken(narrowed, ring, { ...req, region: 'ams' }).ok, true);
    assertRefused(() => verifyToken(narrowed, ring, { ...req, region: 'iad' }), 'forbidden', 'refused');
  });

  it('a third-party caveat it adds makes our verifier refuse the token', () => {
    const m = macaroon.importMacaroon(binaryOf(token));
    m.addThirdPartyCaveat(Buffer.alloc(32, 2), 'user-is-admin', 'https://auth.example');
    const withThirdParty = tokenOf(m);
    const req = request({ app: 'web', repository: 'acme/web', registryAction: 'pull' });
    assertRefused(() => verifyToken(withThirdParty, ring, req), 'unauthorized', 'unsupported');
  });
});
