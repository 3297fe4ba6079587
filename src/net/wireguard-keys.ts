/**
 * WireGuard keys: Curve25519 (x25519) key pairs made with node:crypto, written the way `wg`
 * writes them (standard base64 of the 32 raw bytes). The UAPI speaks hex, so both forms exist.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { ValidationError } from '../lib/errors.ts';

export interface WireguardKeyPair {
  /** base64, as `wg genkey` prints it. Secret: never log it. */
  privateKey: string;
  /** base64, as `wg pubkey` prints it. */
  publicKey: string;
}

const keyBytes = 32;

export function generateWireguardKeyPair(): WireguardKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey: jwkToBase64(privateKey.export({ format: 'jwk' }).d), publicKey: jwkToBase64(publicKey.export({ format: 'jwk' }).x) };
}

/** The public key of a base64 private key (what `wg pubkey` does). */
export function wireguardPublicKey(privateKey: string): string {
  const d = keyToBytes(privateKey, 'private key').toString('base64url');
  const publicJwk = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: '' }, format: 'jwk' })).export({ format: 'jwk' });
  return jwkToBase64(publicJwk.x);
}

/** The 64 hex digits of a base64 key, for the UAPI. */
export function wireguardKeyHex(key: string, what = 'key'): string {
  return keyToBytes(key, what).toString('hex');
}

/** The base64 form of a UAPI hex key. */
export function wireguardKeyFromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function isWireguardKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(key);
}

function keyToBytes(key: string, what: string): Buffer {
  if (!isWireguardKey(key)) throw new ValidationError(`the WireGuard ${what} must be 32 bytes in base64 (44 characters ending in '='), as \`wg genkey\` prints`);
  return Buffer.from(key, 'base64');
}

function jwkToBase64(value: string | undefined): string {
  const bytes = Buffer.from(value ?? '', 'base64url');
  if (bytes.length !== keyBytes) throw new Error(`x25519 key export gave ${bytes.length} bytes, not ${keyBytes}`);
  return bytes.toString('base64');
}
