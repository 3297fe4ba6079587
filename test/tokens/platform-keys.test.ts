// The keys and first token a platform makes at boot: private files, reused across restarts, replaced when revoked.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPlatformKeys } from '../../src/fleet/platform-keys.ts';
import { systemClock } from '../../src/lib/index.ts';
import { authenticateToken } from '../../src/tokens/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aloft-keys-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

describe('createPlatformKeys', () => {
  it('makes a private keyring and an org-admin token of personal, and reuses both', async () => {
    const first = await createPlatformKeys(dir);
    assert.equal((await stat(first.keyringPath)).mode & 0o777, 0o700);
    for (const file of await readdir(first.keyringPath)) assert.equal((await stat(join(first.keyringPath, file))).mode & 0o777, 0o600, file);
    assert.equal((await stat(join(dir, 'admin-token'))).mode & 0o777, 0o600);
    const verified = authenticateToken(first.adminToken, first.keyring, systemClock.now());
    assert.equal(verified.org, 'personal');
    assert.deepEqual(verified.caveats, [{ type: 'org', org: 'personal' }]);

    const again = await createPlatformKeys(dir);
    assert.equal(again.adminToken, first.adminToken);
    assert.deepEqual(again.keyring.ids(), first.keyring.ids());
  });

  it('mints a new admin token when the saved one is revoked or not a macaroon', async () => {
    const { adminToken, keyring } = await createPlatformKeys(dir);
    const id = authenticateToken(adminToken, keyring, systemClock.now()).tokenId;
    const replaced = await createPlatformKeys(dir, { isRevoked: (t) => t === id });
    assert.notEqual(replaced.adminToken, adminToken);
    await writeFile(join(dir, 'admin-token'), 'admintoken_legacy-static-secret\n');
    const fromLegacy = await createPlatformKeys(dir);
    assert.match(fromLegacy.adminToken, /^aloft_/);
  });
});
