import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { StateLimits } from '../limits.ts';
import type { Message } from './messages.ts';
import { validateMessage } from './validate.ts';

/**
 * Packet framing: one version byte, a 16-byte HMAC-SHA256 tag over the rest keyed by the
 * cluster key, then the msgpack body. A stranger without the key can neither join nor inject:
 * packets with a wrong tag are dropped before they are parsed.
 */
const wireVersion = 1;
const tagBytes = 16;
const headerBytes = 1 + tagBytes;

// Plain msgpack (no record extension) so hostile input cannot define structures for later packets.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** The cluster key, imported once: building a key from raw bytes per packet costs more than the HMAC. */
export type ClusterKey = KeyObject;

export function clusterKeyFrom(secret: Uint8Array): ClusterKey {
  if (secret.length < 16) throw new RangeError('a cluster key needs at least 16 bytes');
  return createSecretKey(secret);
}

export function encodePacket(message: Message, clusterKey: ClusterKey): Buffer {
  const body = packr.pack(message);
  const out = Buffer.allocUnsafe(headerBytes + body.length);
  out[0] = wireVersion;
  tag(clusterKey, body).copy(out, 1);
  body.copy(out, headerBytes);
  return out;
}

export type DecodeResult = { ok: true; message: Message } | { ok: false; reason: 'too_large' | 'bad_version' | 'bad_tag' | 'bad_body' | 'bad_shape' };

export function decodePacket(bytes: Uint8Array, clusterKey: ClusterKey, limits: StateLimits): DecodeResult {
  if (bytes.length > limits.messageBytesMax) return { ok: false, reason: 'too_large' };
  if (bytes.length <= headerBytes || bytes[0] !== wireVersion) return { ok: false, reason: 'bad_version' };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body = buf.subarray(headerBytes);
  if (!timingSafeEqual(tag(clusterKey, body), buf.subarray(1, headerBytes))) return { ok: false, reason: 'bad_tag' };
  let decoded: unknown;
  try {
    decoded = packr.unpack(body);
  } catch {
    return { ok: false, reason: 'bad_body' };
  }
  const message = validateMessage(decoded, limits);
  return message === null ? { ok: false, reason: 'bad_shape' } : { ok: true, message };
}

function tag(key: ClusterKey, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, tagBytes);
}
