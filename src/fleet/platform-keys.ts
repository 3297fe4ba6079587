/**
 * The platform's root keys and the operator's first token, made at boot. The keyring lives in
 * `<dataDir>/keyring` (directory 0700, key files 0600) and is handed to every verifier — the
 * API, the registry and each agent (`src/agent/main.ts --keyring`) — so each checks tokens
 * locally. The admin token is an organization-admin token of `personal`, kept in
 * `<dataDir>/admin-token` (0600) and reused across restarts unless it no longer verifies
 * (revoked, or the keyring was replaced), in which case a fresh one is minted.
 */
import { stat, rename, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex, systemClock, type Clock } from '../lib/index.ts';
import { loadOrCreateMasterKeys, type MasterKey } from '../secrets/index.ts';
import { authenticateToken, Keyring, mintToken } from '../tokens/index.ts';

export interface PlatformKeys {
  keyring: Keyring;
  /** Where the keyring is on disk, to pass to agents started as their own processes. */
  keyringPath: string;
  /** Organization-admin token of `org`. */
  adminToken: string;
  /** The master keys that seal apps' secrets: the API seals with them, every host opens with them. */
  secretKeys: MasterKey[];
  /** Where they are on disk (0600), for hosts started as their own processes. */
  secretKeysPath: string;
}

export interface PlatformKeysOptions {
  clock?: Clock;
  /** The organization the admin token is for; default `personal`. */
  org?: string;
  /** The central store's answer, so a revoked admin token is replaced rather than handed out again. */
  isRevoked?: (tokenId: string) => boolean;
}

export const keyringDir = 'keyring';
export const adminTokenFile = 'admin-token';
export const secretKeysFile = 'secrets-master-keys.json';

export async function createPlatformKeys(dataDir: string, options: PlatformKeysOptions = {}): Promise<PlatformKeys> {
  const clock = options.clock ?? systemClock;
  const org = options.org ?? 'personal';
  const keyringPath = join(dataDir, keyringDir);
  const keyring = await loadOrCreateKeyring(keyringPath, clock);
  const secretKeysPath = join(dataDir, secretKeysFile);
  const secretKeys = await loadOrCreateMasterKeys(secretKeysPath);
  const tokenPath = join(dataDir, adminTokenFile);
  const saved = await readFile(tokenPath, 'utf8').then((t) => t.trim(), () => undefined);
  if (saved !== undefined && stillValid(saved, keyring, org, clock, options.isRevoked)) return { keyring, keyringPath, adminToken: saved, secretKeys, secretKeysPath };
  const adminToken = mintToken({ keyring, org, tokenId: `tok_admin_${randomHex(6)}` });
  const tmp = `${tokenPath}.tmp-${randomHex(4)}`;
  await writeFile(tmp, `${adminToken}\n`, { mode: 0o600 });
  await rename(tmp, tokenPath);
  return { keyring, keyringPath, adminToken, secretKeys, secretKeysPath };
}

async function loadOrCreateKeyring(path: string, clock: Clock): Promise<Keyring> {
  const exists = await stat(path).then(() => true, () => false);
  if (exists) return Keyring.load(path, clock);
  const keyring = new Keyring(clock);
  keyring.rotate();
  await keyring.save(path);
  return keyring;
}

function stillValid(token: string, keyring: Keyring, org: string, clock: Clock, isRevoked?: (id: string) => boolean): boolean {
  try {
    return authenticateToken(token, keyring, clock.now(), isRevoked === undefined ? {} : { isRevoked }).org === org;
  } catch {
    return false;
  }
}
