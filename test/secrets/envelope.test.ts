import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeSecrets, emptySecrets, loadMasterKeys, loadOrCreateMasterKeys, openSecrets, SecretsError, updateSecrets, type MasterKey } from '../../src/secrets/index.ts';

const now = new Date('2026-11-22T00:00:00Z');
const master: MasterKey = { id: 'mk_test', key: randomBytes(32) };

function isSecretsError(code: string) {
  return (err: unknown) => err instanceof SecretsError && err.code === code;
}

test('set, open, change and unset round-trip, and the bundle never holds a value in clear', () => {
  let bundle = updateSecrets(emptySecrets('shop', master), { DATABASE_URL: 'postgres://u:hunter2@db/shop', API_KEY: 'k-123' }, [master], now);
  assert.equal(bundle.version, 1);
  assert.deepEqual(openSecrets(bundle, [master]), { API_KEY: 'k-123', DATABASE_URL: 'postgres://u:hunter2@db/shop' });
  const text = JSON.stringify(bundle);
  assert.ok(!text.includes('hunter2') && !text.includes('k-123'), 'values are encrypted');

  const before = describeSecrets(bundle);
  bundle = updateSecrets(bundle, { API_KEY: 'k-456', DATABASE_URL: null }, [master], now);
  assert.deepEqual(openSecrets(bundle, [master]), { API_KEY: 'k-456' });
  const after = describeSecrets(bundle);
  assert.deepEqual(after.map((s) => s.name), ['API_KEY']);
  assert.notEqual(after[0]!.digest, before.find((s) => s.name === 'API_KEY')!.digest, 'the digest shows the value changed');
  assert.deepEqual(Object.keys(after[0]!).sort(), ['digest', 'name', 'updated_at'], 'listing carries no value');
});

test('the same value in two apps has different digests, so digests reveal nothing across apps', () => {
  const a = updateSecrets(emptySecrets('a-app', master), { TOKEN: 'same' }, [master], now);
  const b = updateSecrets(emptySecrets('b-app', master), { TOKEN: 'same' }, [master], now);
  assert.notEqual(describeSecrets(a)[0]!.digest, describeSecrets(b)[0]!.digest);
});

test('a value moved to another name or app, or altered, fails to open', () => {
  const shop = updateSecrets(emptySecrets('shop', master), { A: 'alpha', B: 'beta' }, [master], now);
  const renamed = { ...shop, values: shop.values.map((v) => (v.name === 'A' ? { ...v, name: 'B2' } : v)) };
  assert.throws(() => openSecrets(renamed, [master]), isSecretsError('secrets_unreadable'));

  const other = updateSecrets(emptySecrets('other', master), { A: 'x' }, [master], now);
  const stolen = { ...other, values: shop.values };
  assert.throws(() => openSecrets(stolen, [master]), isSecretsError('secrets_unreadable'), "another app's ciphertexts do not open under its key");

  const flipped = Buffer.from(shop.values[0]!.ciphertext, 'base64');
  flipped[0]! ^= 1;
  const altered = { ...shop, values: [{ ...shop.values[0]!, ciphertext: flipped.toString('base64') }, shop.values[1]!] };
  assert.throws(() => openSecrets(altered, [master]), isSecretsError('secrets_unreadable'));

  const rewrapped = { ...shop, app: 'other' };
  assert.throws(() => openSecrets(rewrapped, [master]), isSecretsError('secrets_unreadable'), 'the data key is bound to its app');
});

test('a bundle opens only where its master key is held; rotated keys keep old bundles readable', () => {
  const old = updateSecrets(emptySecrets('shop', master), { A: '1' }, [master], now);
  const stranger: MasterKey = { id: 'mk_other', key: randomBytes(32) };
  assert.throws(() => openSecrets(old, [stranger]), (err: unknown) => err instanceof SecretsError && /mk_test.*not held/.test(err.message));
  const impostor: MasterKey = { id: 'mk_test', key: randomBytes(32) };
  assert.throws(() => openSecrets(old, [impostor]), isSecretsError('secrets_unreadable'));
  assert.deepEqual(openSecrets(old, [stranger, master]), { A: '1' });
});

test('bad names, oversized values and too many secrets are refused as the user\'s to fix', () => {
  const bundle = emptySecrets('shop', master);
  assert.throws(() => updateSecrets(bundle, { '1BAD': 'x' }, [master], now), (err: unknown) => err instanceof SecretsError && err.fault === 'user' && err.code === 'invalid_secret_name');
  assert.throws(() => updateSecrets(bundle, { BIG: 'x'.repeat(64 * 1024 + 1) }, [master], now), isSecretsError('secret_too_large'));
  const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`S${i}`, 'v']));
  assert.throws(() => updateSecrets(bundle, many, [master], now), isSecretsError('too_many_secrets'));
});

test('master keys are created once, private to the owner, and a damaged file is a platform error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aloft-secrets-'));
  try {
    const path = join(dir, 'keys', 'secrets-master.json');
    const [first, again] = await Promise.all([loadOrCreateMasterKeys(path), loadOrCreateMasterKeys(path)]);
    assert.deepEqual(first, again, 'concurrent boots agree on one key');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(first[0]!.key.length, 32);
    const sealed = updateSecrets(emptySecrets('shop', first[0]!), { A: '1' }, first, now);
    assert.deepEqual(openSecrets(sealed, await loadOrCreateMasterKeys(path)), { A: '1' }, 'the key survives a reload');

    await writeFile(path, (await readFile(path, 'utf8')).replace(/"key":"[^"]+"/, '"key":"c2hvcnQ="'));
    await assert.rejects(loadOrCreateMasterKeys(path), (err: unknown) => err instanceof SecretsError && err.fault === 'platform' && /not 32 bytes/.test(err.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bundle too large to travel to the hosts is refused, and hosts only load keys that exist', async () => {
  const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`CERT_${i}`, 'x'.repeat(60 * 1024)]));
  assert.throws(() => updateSecrets(emptySecrets('shop', master), big, [master], now), isSecretsError('secrets_too_large'));
  await assert.rejects(loadMasterKeys(join(tmpdir(), `aloft-no-such-keys-${process.pid}.json`)), isSecretsError('master_key_missing'));
});
