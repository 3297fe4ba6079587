// Keyrings saved to and loaded from a directory, key rotation, and retiring keys.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AloftError, NotFoundError, ValidationError } from '../../src/lib/index.ts';
import { Keyring, mintToken, verifyToken } from '../../src/tokens/index.ts';
import { ManualClock, NOW_MS, assertRefused, request } from './helpers.ts';

describe('keyring', () => {
  let dir = '';
  const clock = new ManualClock();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aloft-keyring-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through a directory of 0600 files', async () => {
    const ring = new Keyring(clock);
    const first = ring.generate();
    const second = ring.generate();
    assert.equal(ring.currentId, first.id, 'the first key becomes current; later ones wait to be used');
    assert.equal(first.createdAtMs, NOW_MS);
    await ring.save(join(dir, 'a'));
    const files = (await readdir(join(dir, 'a'))).sort();
    assert.deepEqual(files, [`${first.id}.key`, `${second.id}.key`, 'current'].sort());
    for (const f of files) assert.equal((await stat(join(dir, 'a', f))).mode & 0o777, 0o600, f);

    const loaded = await Keyring.load(join(dir, 'a'), clock);
    assert.equal(loaded.currentId, first.id);
    assert.deepEqual(loaded.get(second.id), second);
    const token = mintToken({ keyring: ring, org: 'acme' });
    assert.equal(verifyToken(token, loaded, request()).keyId, first.id);
  });

  it('rotates: new tokens use the new key, old tokens verify until their key is retired', async () => {
    const ring = new Keyring(clock);
    const old = ring.generate();
    const oldToken = mintToken({ keyring: ring, org: 'acme' });
    const fresh = ring.rotate();
    assert.equal(ring.currentId, fresh.id);
    const newToken = mintToken({ keyring: ring, org: 'acme' });
    assert.equal(verifyToken(newToken, ring, request()).keyId, fresh.id);
    assert.equal(verifyToken(oldToken, ring, request()).keyId, old.id);

    assert.throws(() => ring.retire(fresh.id), ValidationError);
    ring.retire(old.id);
    assertRefused(() => verifyToken(oldToken, ring, request()), 'unauthorized', 'unknown_key');

    // Saving over a directory that still holds the retired key removes it there too.
    await ring.save(join(dir, 'b'));
    const reloaded = await Keyring.load(join(dir, 'b'), clock);
    assert.deepEqual(reloaded.ids(), [fresh.id]);
  });

  it('mints with a named key that is not current', () => {
    const ring = new Keyring(clock);
    ring.generate();
    const next = ring.generate();
    const token = mintToken({ keyring: ring, keyId: next.id, org: 'acme' });
    assert.equal(verifyToken(token, ring, request()).keyId, next.id);
    assert.throws(() => mintToken({ keyring: ring, keyId: 'knope', org: 'acme' }), NotFoundError);
    assert.throws(() => mintToken({ keyring: new Keyring(clock), org: 'acme' }), NotFoundError);
  });

  it('refuses bad keys and broken directories with a config error', async () => {
    const ring = new Keyring(clock);
    assert.throws(() => ring.add({ id: 'k1', secret: Buffer.alloc(16), createdAtMs: 0 }), ValidationError);
    assert.throws(() => ring.add({ id: '../etc', secret: Buffer.alloc(32), createdAtMs: 0 }), ValidationError);

    const broken = join(dir, 'c');
    await new Keyring(clock).save(broken);
    await writeFile(join(broken, 'k1.key'), '{"id":"k2","secret":"","createdAtMs":0}');
    await assert.rejects(Keyring.load(broken, clock), (err: AloftError) => err.code === 'bad_keyring' && err.fault === 'config');
    await rm(join(broken, 'k1.key'));
    await writeFile(join(broken, 'current'), 'k9\n');
    await assert.rejects(Keyring.load(broken, clock), /names key k9/);
    await assert.rejects(Keyring.load(join(dir, 'missing'), clock), /does not exist/);
  });
});
