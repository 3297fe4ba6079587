/**
 * Root keys, by id. The platform mints with the current key; every verifier (API, registry,
 * agents) holds a copy of the keyring and checks tokens locally, with no call to a central
 * service. Rotation: `generate` a key, distribute the keyring, `use` the new key for minting,
 * and `retire` the old one once its tokens should stop working. `rotate` does the first and
 * third steps at once, for a single process or tests.
 *
 * On disk a keyring is a directory: one `<id>.key` file per key (JSON with the secret in
 * base64url) and a `current` file naming the minting key. Files are written 0600 and replaced
 * atomically. A Keyring object is not safe to save from two processes at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AloftError, NotFoundError, ValidationError, randomHex } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import { KEY_ID } from './identifier.ts';

export interface RootKey {
  readonly id: string;
  /** 32 random bytes; whoever holds it can mint any token. */
  readonly secret: Buffer;
  readonly createdAtMs: number;
}

export const SECRET_BYTES = 32;
/** Retire old keys rather than keep them forever; a bound keeps a bad directory from loading unbounded files. */
export const KEYS_MAX = 64;

const KEY_FILE_SUFFIX = '.key';
const CURRENT_FILE = 'current';

export class Keyring {
  readonly #clock: Clock;
  readonly #keys = new Map<string, RootKey>();
  #currentId: string | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The key new tokens are minted with; undefined for an empty keyring. */
  get currentId(): string | undefined {
    return this.#currentId;
  }

  ids(): string[] {
    return [...this.#keys.keys()];
  }

  get(id: string): RootKey | undefined {
    return this.#keys.get(id);
  }

  /** Adds a fresh random key. It becomes current only if the keyring had none. */
  generate(): RootKey {
    const key = { id: `k${randomHex(8)}`, secret: randomBytes(SECRET_BYTES), createdAtMs: this.#clock.now() };
    this.add(key);
    return key;
  }

  /** Adds a new key and mints with it from now on; older keys still verify until retired. */
  rotate(): RootKey {
    const key = this.generate();
    this.use(key.id);
    return key;
  }

  add(key: RootKey): void {
    if (!KEY_ID.test(key.id)) throw new ValidationError(`key id '${key.id}' must match ${KEY_ID}`, { field: 'id' });
    if (key.secret.length !== SECRET_BYTES) throw new ValidationError(`key ${key.id}: secret must be ${SECRET_BYTES} bytes`);
    if (this.#keys.has(key.id)) throw new ValidationError(`key ${key.id} is already in the keyring`);
    if (this.#keys.size >= KEYS_MAX) {
      throw new ValidationError(`a keyring holds at most ${KEYS_MAX} keys`, { hint: 'retire old keys first' });
    }
    this.#keys.set(key.id, key);
    this.#currentId ??= key.id;
  }

  use(id: string): void {
    if (!this.#keys.has(id)) throw new NotFoundError('key', id);
    this.#currentId = id;
  }

  /** Removes a key: every token it signed stops verifying here. The current key cannot be retired. */
  retire(id: string): void {
    if (!this.#keys.has(id)) throw new NotFoundError('key', id);
    if (id === this.#currentId) {
      throw new ValidationError(`key ${id} is the current key`, { hint: 'rotate to a new key before retiring this one' });
    }
    this.#keys.delete(id);
  }

  static async load(dir: string, clock: Clock): Promise<Keyring> {
    const ring = new Keyring(clock);
    const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? keyringError(dir, 'does not exist') : err;
    });
    const files = entries.filter((f) => f.endsWith(KEY_FILE_SUFFIX)).sort();
    for (const file of files) ring.add(parseKeyFile(file, await readFile(join(dir, file), 'utf8')));
    const current = await readOptional(join(dir, CURRENT_FILE));
    if (current !== undefined) {
      const id = current.trim();
      if (!ring.#keys.has(id)) throw keyringError(dir, `'current' names key ${id}, which has no ${id}${KEY_FILE_SUFFIX}`);
      ring.#currentId = id;
    }
    return ring;
  }

  /** Writes every key and the current pointer, and deletes key files of retired keys. */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const key of this.#keys.values()) {
      const body = { id: key.id, secret: key.secret.toString('base64url'), createdAtMs: key.createdAtMs };
      await writeAtomic(join(dir, key.id + KEY_FILE_SUFFIX), JSON.stringify(body) + '\n');
    }
    if (this.#currentId !== undefined) await writeAtomic(join(dir, CURRENT_FILE), this.#currentId + '\n');
    for (const file of await readdir(dir)) {
      if (file.endsWith(KEY_FILE_SUFFIX) && !this.#keys.has(file.slice(0, -KEY_FILE_SUFFIX.length))) {
        await rm(join(dir, file));
      }
    }
  }
}

function parseKeyFile(file: string, text: string): RootKey {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw keyringError(file, 'not JSON');
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof b.id !== 'string' || b.id + KEY_FILE_SUFFIX !== file) throw keyringError(file, 'id does not match the file name');
  if (typeof b.secret !== 'string' || typeof b.createdAtMs !== 'number') throw keyringError(file, 'needs secret and createdAtMs');
  return { id: b.id, secret: Buffer.from(b.secret, 'base64url'), createdAtMs: b.createdAtMs };
}

function keyringError(where: string, problem: string): AloftError {
  return new AloftError('bad_keyring', 'config', `keyring ${where}: ${problem}`, {
    hint: 'restore the keyring directory from a good copy, or remove the broken file',
  });
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write-then-rename, so a crash never leaves a half-written key that would fail every verify. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${randomHex(6)}`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}
