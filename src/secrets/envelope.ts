/**
 * Envelope encryption of app secrets. Each app has its own data key; the platform's master key
 * only ever wraps data keys. A sealed bundle (wrapped data key + encrypted values) is what is
 * stored centrally and copied to every host that runs the app, so a host holding the master
 * key can open it with the central API down — the lesson of a secret store that, living in one
 * region, stopped machines booting everywhere.
 *
 * AES-256-GCM throughout. The associated data binds each ciphertext to its app and name, so a
 * value cannot be moved to another app or renamed without failing to open.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { AloftError } from '../lib/index.ts';

const keyBytes = 32;
const nonceBytes = 12;
const tagBytes = 16;
/** Digests shown by `secrets list`: enough to tell values apart, short enough to read. */
const digestHexLength = 16;

export const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A secret is an environment variable: keep one well under typical env and argv limits. */
export const secretValueBytesMax = 64 * 1024;
export const secretsPerAppMax = 200;
/**
 * A sealed bundle travels to every host in one state-layer transaction (512 KiB at most), so the
 * whole bundle is kept well below that.
 */
export const sealedBundleBytesMax = 256 * 1024;

/** A master key: wraps data keys; identified so keys can rotate while old bundles still open. */
export interface MasterKey {
  id: string;
  key: Buffer;
}

export interface SealedValue {
  name: string;
  /** HMAC of the value under the app's data key: shows a change without revealing the value. */
  digest: string;
  nonce: string;
  ciphertext: string;
  updated_at: string;
}

export interface SealedSecrets {
  app: string;
  /** Which master key wrapped the data key. */
  key_id: string;
  wrapped_key: string;
  /** Bumped on every change, so hosts keep the newest copy they have seen. */
  version: number;
  values: SealedValue[];
}

/** A sealed bundle could not be opened or made: whose fault depends on the code. */
export class SecretsError extends AloftError {}

/** Opening failed: the bundle was tampered with, moved between apps, or the key is wrong. */
function openFailed(app: string, what: string): SecretsError {
  return new SecretsError('secrets_unreadable', 'platform', `the secrets of app '${app}' cannot be opened: ${what}`, {
    hint: 'the sealed copy is damaged or was sealed with another master key; set the secrets again',
  });
}

/** A new, empty bundle for `app` with a fresh data key. */
export function emptySecrets(app: string, master: MasterKey): SealedSecrets {
  return { app, key_id: master.id, wrapped_key: wrapKey(randomBytes(keyBytes), app, master), version: 0, values: [] };
}

/**
 * Returns a new bundle with `changes` applied: a string sets a value, `null` removes it. The
 * data key is kept, so unchanged values are carried over as they were.
 */
export function updateSecrets(bundle: SealedSecrets, changes: Readonly<Record<string, string | null>>, masters: readonly MasterKey[], now: Date): SealedSecrets {
  const dataKey = unwrapKey(bundle, masters);
  const values = new Map(bundle.values.map((v) => [v.name, v]));
  for (const [name, value] of Object.entries(changes)) {
    validateName(name);
    if (value === null) {
      values.delete(name);
      continue;
    }
    validateValue(name, value);
    values.set(name, sealValue(bundle.app, name, value, dataKey, now));
  }
  if (values.size > secretsPerAppMax) {
    throw new SecretsError('too_many_secrets', 'user', `app '${bundle.app}' would have ${values.size} secrets; the limit is ${secretsPerAppMax}`, {
      status: 422,
      hint: 'unset secrets the app no longer reads, or combine related values into one',
    });
  }
  const next = { ...bundle, version: bundle.version + 1, values: [...values.values()].sort((a, b) => a.name.localeCompare(b.name)) };
  const size = Buffer.byteLength(JSON.stringify(next));
  if (size > sealedBundleBytesMax) {
    throw new SecretsError('secrets_too_large', 'user', `app '${bundle.app}' would hold ${Math.ceil(size / 1024)} KiB of sealed secrets; the limit is ${sealedBundleBytesMax / 1024} KiB in all`, {
      status: 422,
      hint: 'keep large material (certificates, files) in an image or a volume, and only keys in secrets',
    });
  }
  return next;
}

/** Every value in the bundle, for a host starting a machine. */
export function openSecrets(bundle: SealedSecrets, masters: readonly MasterKey[]): Record<string, string> {
  const dataKey = unwrapKey(bundle, masters);
  const out: Record<string, string> = {};
  for (const value of bundle.values) {
    const plain = decrypt(dataKey, value.nonce, value.ciphertext, valueAad(bundle.app, value.name));
    if (plain === undefined) throw openFailed(bundle.app, `value '${value.name}' fails authentication`);
    out[value.name] = plain.toString('utf8');
  }
  return out;
}

/** Names and digests, never values: what `secrets list` shows. */
export function describeSecrets(bundle: SealedSecrets): { name: string; digest: string; updated_at: string }[] {
  return bundle.values.map(({ name, digest, updated_at }) => ({ name, digest, updated_at }));
}

function sealValue(app: string, name: string, value: string, dataKey: Buffer, now: Date): SealedValue {
  const nonce = randomBytes(nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(valueAad(app, name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return {
    name,
    digest: createHmac('sha256', dataKey).update(name).update('\0').update(value).digest('hex').slice(0, digestHexLength),
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    updated_at: now.toISOString(),
  };
}

function wrapKey(dataKey: Buffer, app: string, master: MasterKey): string {
  const nonce = randomBytes(nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
  cipher.setAAD(wrapAad(app, master.id));
  const sealed = Buffer.concat([nonce, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  return sealed.toString('base64');
}

function unwrapKey(bundle: SealedSecrets, masters: readonly MasterKey[]): Buffer {
  const master = masters.find((m) => m.id === bundle.key_id);
  if (master === undefined) throw openFailed(bundle.app, `master key '${bundle.key_id}' is not held here`);
  const sealed = Buffer.from(bundle.wrapped_key, 'base64');
  const key = decrypt(master.key, sealed.subarray(0, nonceBytes).toString('base64'), sealed.subarray(nonceBytes).toString('base64'), wrapAad(bundle.app, master.id));
  if (key === undefined || key.length !== keyBytes) throw openFailed(bundle.app, 'the data key fails authentication');
  return key;
}

function decrypt(key: Buffer, nonceB64: string, sealedB64: string, aad: Buffer): Buffer | undefined {
  const sealed = Buffer.from(sealedB64, 'base64');
  if (sealed.length < tagBytes) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonceB64, 'base64'));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - tagBytes));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - tagBytes)), decipher.final()]);
  } catch {
    return undefined;
  }
}

function valueAad(app: string, name: string): Buffer {
  return Buffer.from(`aloft-secret\0${app}\0${name}`);
}

function wrapAad(app: string, keyId: string): Buffer {
  return Buffer.from(`aloft-data-key\0${app}\0${keyId}`);
}

function validateName(name: string): void {
  if (!secretNamePattern.test(name)) {
    throw new SecretsError('invalid_secret_name', 'user', `'${name}' is not a valid secret name`, {
      status: 422,
      hint: 'secrets become environment variables: use letters, digits and _, not starting with a digit',
    });
  }
}

function validateValue(name: string, value: string): void {
  if (Buffer.byteLength(value) > secretValueBytesMax) {
    throw new SecretsError('secret_too_large', 'user', `secret '${name}' is ${Buffer.byteLength(value)} bytes; the limit is ${secretValueBytesMax}`, {
      status: 422,
      hint: 'store large material (certificates, files) in a volume or an image, and keep only a key in the secret',
    });
  }
}
