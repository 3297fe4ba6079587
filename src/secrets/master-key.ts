/**
 * The master keys that wrap apps' data keys, kept in one file per platform (0600). The file
 * holds a list so a new key can be added for new bundles while bundles sealed with an older
 * key still open; the first key is the one used for new bundles.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomHex } from '../lib/index.ts';
import { SecretsError, type MasterKey } from './envelope.ts';

interface MasterKeyFile {
  keys: { id: string; key: string }[];
}

/** Reads the master keys at `path`, creating the file with one new key when it does not exist. */
export async function loadOrCreateMasterKeys(path: string): Promise<MasterKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true });
    const file: MasterKeyFile = { keys: [{ id: `mk_${randomHex(8)}`, key: randomBytes(32).toString('base64') }] };
    // Written aside, then linked into place: link fails if the file exists, so two processes
    // booting at once end up with the same key, and neither can read a half-written file.
    const aside = `${path}.${randomHex(6)}.tmp`;
    await writeFile(aside, `${JSON.stringify(file)}\n`, { mode: 0o600 });
    try {
      await link(aside, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await unlink(aside);
    }
    text = await readFile(path, 'utf8');
  }
  return parseMasterKeys(text, path);
}

/**
 * Reads master keys that must already exist: a host opens bundles sealed by the control host,
 * so a key of its own would open nothing.
 */
export async function loadMasterKeys(path: string): Promise<MasterKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SecretsError('master_key_missing', 'platform', `the secrets master key file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      hint: "give this host the control host's key file; without it no machine here can get its app's secrets",
    });
  }
  return parseMasterKeys(text, path);
}

function parseMasterKeys(text: string, path: string): MasterKey[] {
  const unreadable = (why: string) =>
    new SecretsError('master_key_unreadable', 'platform', `the secrets master key file ${path} is unusable: ${why}`, {
      hint: 'restore it from backup; without it no app secret can be opened',
    });
  let file: MasterKeyFile;
  try {
    file = JSON.parse(text) as MasterKeyFile;
  } catch {
    throw unreadable('not JSON');
  }
  if (!Array.isArray(file.keys) || file.keys.length === 0) throw unreadable('no keys');
  return file.keys.map(({ id, key }) => {
    const bytes = Buffer.from(key, 'base64');
    if (typeof id !== 'string' || bytes.length !== 32) throw unreadable(`key '${String(id)}' is not 32 bytes`);
    return { id, key: bytes };
  });
}
