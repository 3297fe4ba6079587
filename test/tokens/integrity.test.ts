// Tokens that were altered, cut short, forged or signed by a key we do not hold are refused,
// as are genuine tokens carrying restrictions this verifier cannot check.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError } from '../../src/lib/index.ts';
import { Keyring, attenuate, mintToken, verifyToken } from '../../src/tokens/index.ts';
import { decodeToken, encodeToken, TOKEN_PREFIX } from '../../src/tokens/format.ts';
import { chainCaveat, rootSignature } from '../../src/tokens/signature.ts';
import { NOW_MS, ManualClock, adminToken, assertRefused, newKeyring, request } from './helpers.ts';

const ring = newKeyring();
const token = attenuate(adminToken(ring), [
  { type: 'apps', apps: ['web'] },
  { type: 'expires', notAfterMs: NOW_MS + 60_000 },
]);
const ok = request({ app: 'web' });
const binary = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
const spell = (bytes: Buffer): string => TOKEN_PREFIX + bytes.toString('base64url');

/** Appends a raw caveat identifier, as any macaroon library could, without our validation. */
function appendRaw(t: string, text: string): string {
  const m = decodeToken(t);
  const identifier = Buffer.from(text, 'utf8');
  return encodeToken({ ...m, caveats: [...m.caveats, { identifier }], signature: chainCaveat(m.signature, identifier) });
}

describe('integrity', () => {
  it('accepts the untouched token', () => {
    assert.equal(verifyToken(token, ring, ok).tokenId, 'root1');
  });

  it('refuses every single-bit change anywhere in the token', () => {
    for (let i = 0; i < binary.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bytes = Buffer.from(binary);
        bytes[i]! ^= 1 << bit;
        assert.throws(() => verifyToken(spell(bytes), ring, ok), AuthError, `byte ${i} bit ${bit}`);
      }
    }
  });

  it('refuses every truncation and any trailing bytes', () => {
    for (let length = 0; length < binary.length; length++) {
      assert.throws(() => verifyToken(spell(binary.subarray(0, length)), ring, ok), AuthError, `length ${length}`);
    }
    assertRefused(() => verifyToken(spell(Buffer.concat([binary, Buffer.of(0)])), ring, ok), 'unauthorized', 'malformed');
  });

  it('refuses a token with its last caveat stripped', () => {
    const m = decodeToken(token);
    const stripped = encodeToken({ ...m, caveats: m.caveats.slice(0, -1) });
    assertRefused(() => verifyToken(stripped, ring, ok), 'unauthorized', 'bad_signature');
  });

  it('refuses a token re-signed with another key under the same key id', () => {
    const forger = new Keyring(new ManualClock());
    forger.add({ ...ring.get(ring.currentId!)!, secret: Buffer.alloc(32, 7) });
    const forged = mintToken({ keyring: forger, org: 'acme', tokenId: 'root1' });
    const err = assertRefused(() => verifyToken(forged, ring, ok), 'unauthorized', 'bad_signature');
    assert.equal(err.status, 401);
    assert.doesNotMatch(err.message, /apps|acme/, 'a forged token learns nothing about caveat evaluation');
  });

  it('refuses a token whose key id is not in the keyring', () => {
    const other = newKeyring();
    const err = assertRefused(() => verifyToken(adminToken(other), ring, ok), 'unauthorized', 'unknown_key');
    assert.match(err.message, new RegExp(other.currentId!));
  });

  it('refuses text that is not a token, without echoing it', () => {
    for (const bad of ['', 'aloft_', 'fm2_abc', 'aloft_!!!!', `${token}=`, token.slice(TOKEN_PREFIX.length)]) {
      const err = assertRefused(() => verifyToken(bad, ring, ok), 'unauthorized', 'malformed');
      assert.ok(bad.length < 10 || !err.message.includes(bad));
    }
  });

  it('refuses non-minimal length encodings, so each token has one spelling', () => {
    // 02 | 02 <len> <identifier> : rewrite the identifier length as a two-byte varint.
    const length = binary[2]!;
    assert.ok(length < 0x80);
    const padded = Buffer.concat([binary.subarray(0, 2), Buffer.of(length | 0x80, 0), binary.subarray(3)]);
    assertRefused(() => verifyToken(spell(padded), ring, ok), 'unauthorized', 'malformed');
  });

  it('fails closed on caveats it cannot read, even when signed correctly', () => {
    const unreadable = [
      '[1,"superuser",true]',
      '[2,"apps",["web"]]',
      '[1, "apps", ["web"]]',
      '[1,"actions",["admin"]]',
      '[1,"apps","web"]',
      'time < 2030-01-01',
      '[1,"registry",{"actions":["pull"],"repositories":["acme/web"]}]',
    ];
    for (const text of unreadable) {
      const err = assertRefused(() => verifyToken(appendRaw(token, text), ring, ok), 'forbidden', 'unknown_caveat');
      assert.equal(err.details.caveat, 4, text);
    }
  });

  it('refuses a genuine token that names no organization', () => {
    // Only the key holder can make this, so it would be our bug; verify still refuses it.
    const m = decodeToken(adminToken(ring));
    const secret = ring.get(ring.currentId!)!.secret;
    const unbound = encodeToken({ ...m, caveats: [], signature: rootSignature(secret, m.identifier) });
    assertRefused(() => verifyToken(unbound, ring, request()), 'unauthorized', 'malformed');
  });

  it('honours expiry against the injected clock', () => {
    const clock = new ManualClock();
    const t = attenuate(adminToken(ring), [{ type: 'expires', notAfterMs: clock.now() + 3_600_000 }]);
    assert.equal(verifyToken(t, ring, request({ now: clock.now() })).ok, true);
    clock.nowMs += 3_600_000;
    assert.equal(verifyToken(t, ring, request({ now: clock.now() })).ok, true);
    clock.nowMs += 1;
    assertRefused(() => verifyToken(t, ring, request({ now: clock.now() })), 'unauthorized', 'expired');
  });

  it('honours revocation of the minted id, which covers every token derived from it', () => {
    const revoked = new Set(['root1']);
    const isRevoked = (id: string): boolean => revoked.has(id);
    assertRefused(() => verifyToken(token, ring, ok, { isRevoked }), 'unauthorized', 'revoked');
    revoked.clear();
    assert.equal(verifyToken(token, ring, ok, { isRevoked }).ok, true);
  });

  it('revoking a derived id leaves its parent working', () => {
    const child = attenuate(token, [{ type: 'token', tokenId: 'child7' }]);
    const isRevoked = (id: string): boolean => id === 'child7';
    assertRefused(() => verifyToken(child, ring, ok, { isRevoked }), 'unauthorized', 'revoked');
    assert.equal(verifyToken(token, ring, ok, { isRevoked }).ok, true);
  });
});

