/**
 * The libmacaroons version 2 binary serialization, and the `aloft_` transport string around it.
 *
 * Using the common binary format (rather than one of our own) means any macaroon library
 * (libmacaroons, go-macaroon, js-macaroon, pymacaroons) can read and attenuate our tokens.
 * The decoder is strict: one encoding per token, bounded sizes, no trailing bytes.
 *
 * Layout: version byte 2; [location] identifier EOS; per caveat [location] identifier [vid] EOS;
 * EOS; signature. Each field is a type byte, an unsigned LEB128 length, then the bytes.
 */
import { AuthError, ValidationError } from '../lib/index.ts';

/** A parsed macaroon. Byte fields are Buffers so callers can compare and hash them directly. */
export interface Macaroon {
  location?: string;
  identifier: Buffer;
  caveats: RawCaveat[];
  signature: Buffer;
}

/** A caveat as it sits in the macaroon; `vid` is present only on third-party caveats. */
export interface RawCaveat {
  location?: string;
  identifier: Buffer;
  vid?: Buffer;
}

/** Visible prefix so people and secret scanners recognise an Aloft token at a glance. */
export const TOKEN_PREFIX = 'aloft_';

export const SIGNATURE_BYTES = 32;
/** Large enough for hundreds of caveats; small enough that a hostile header costs little to reject. */
export const TOKEN_BYTES_MAX = 64 * 1024;
export const FIELD_BYTES_MAX = 8 * 1024;
export const CAVEATS_MAX = 256;

const VERSION = 2;
const FIELD_EOS = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VID = 4;
const FIELD_SIGNATURE = 6;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function malformed(reason: string): AuthError {
  return new AuthError('unauthorized', `token is malformed: ${reason}`, {
    hint: 'pass the whole token as printed by `aloft tokens create`, starting with aloft_',
    details: { reason: 'malformed' },
  });
}

/** Refuses to write what `decodeToken` would refuse to read, so a token that mints also verifies. */
export function encodeToken(m: Macaroon): string {
  if (m.caveats.length > CAVEATS_MAX) throw new ValidationError(`a token holds at most ${CAVEATS_MAX} caveats`);
  const fields = [m.identifier, ...m.caveats.flatMap((c) => [c.identifier, c.vid ?? Buffer.alloc(0)])];
  if (fields.some((f) => f.length > FIELD_BYTES_MAX)) throw new ValidationError(`a caveat is at most ${FIELD_BYTES_MAX} bytes`);
  const bytes = encodeBinary(m);
  if (bytes.length > TOKEN_BYTES_MAX) throw new ValidationError(`a token is at most ${TOKEN_BYTES_MAX} bytes`);
  return TOKEN_PREFIX + bytes.toString('base64url');
}

export function decodeToken(token: string): Macaroon {
  if (!token.startsWith(TOKEN_PREFIX)) throw malformed(`missing ${TOKEN_PREFIX} prefix`);
  const body = token.slice(TOKEN_PREFIX.length);
  if (body.length > Math.ceil((TOKEN_BYTES_MAX * 4) / 3)) throw malformed('too long');
  if (!BASE64URL.test(body)) throw malformed('not base64url');
  const bytes = Buffer.from(body, 'base64url');
  // Buffer's decoder ignores stray trailing bits; insisting on a round trip keeps one spelling per token.
  if (bytes.toString('base64url') !== body) throw malformed('not canonical base64url');
  return decodeBinary(bytes);
}

export function encodeBinary(m: Macaroon): Buffer {
  const parts: Buffer[] = [Buffer.of(VERSION)];
  const field = (type: number, data: Buffer): void => {
    parts.push(Buffer.of(type), uvarint(data.length), data);
  };
  if (m.location !== undefined) field(FIELD_LOCATION, Buffer.from(m.location, 'utf8'));
  field(FIELD_IDENTIFIER, m.identifier);
  parts.push(Buffer.of(FIELD_EOS));
  for (const c of m.caveats) {
    if (c.location !== undefined) field(FIELD_LOCATION, Buffer.from(c.location, 'utf8'));
    field(FIELD_IDENTIFIER, c.identifier);
    if (c.vid !== undefined) field(FIELD_VID, c.vid);
    parts.push(Buffer.of(FIELD_EOS));
  }
  parts.push(Buffer.of(FIELD_EOS));
  field(FIELD_SIGNATURE, m.signature);
  return Buffer.concat(parts);
}

export function decodeBinary(bytes: Buffer): Macaroon {
  if (bytes.length > TOKEN_BYTES_MAX) throw malformed('too long');
  const r = new Reader(bytes);
  if (r.byte() !== VERSION) throw malformed('not a libmacaroons v2 macaroon');
  const location = r.optionalText(FIELD_LOCATION);
  const identifier = r.field(FIELD_IDENTIFIER);
  r.eos();
  const caveats: RawCaveat[] = [];
  while (!r.tryEos()) {
    if (caveats.length >= CAVEATS_MAX) throw malformed(`more than ${CAVEATS_MAX} caveats`);
    const caveat: RawCaveat = { identifier: Buffer.alloc(0) };
    const cavLocation = r.optionalText(FIELD_LOCATION);
    if (cavLocation !== undefined) caveat.location = cavLocation;
    caveat.identifier = r.field(FIELD_IDENTIFIER);
    const vid = r.optional(FIELD_VID);
    if (vid !== undefined) caveat.vid = vid;
    r.eos();
    caveats.push(caveat);
  }
  const signature = r.field(FIELD_SIGNATURE);
  if (signature.length !== SIGNATURE_BYTES) throw malformed('signature has the wrong length');
  if (!r.done()) throw malformed('trailing bytes after the signature');
  return location === undefined ? { identifier, caveats, signature } : { location, identifier, caveats, signature };
}

function uvarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A cursor over the bytes; every read is bounds-checked and failures say what was expected. */
class Reader {
  readonly #bytes: Buffer;
  #pos = 0;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  done(): boolean {
    return this.#pos === this.#bytes.length;
  }

  byte(): number {
    const b = this.#bytes[this.#pos];
    if (b === undefined) throw malformed('truncated');
    this.#pos++;
    return b;
  }

  eos(): void {
    if (this.byte() !== FIELD_EOS) throw malformed('expected end of section');
  }

  tryEos(): boolean {
    if (this.#bytes[this.#pos] !== FIELD_EOS) return false;
    this.#pos++;
    return true;
  }

  field(type: number): Buffer {
    if (this.byte() !== type) throw malformed(`expected field type ${type}`);
    const length = this.#length();
    if (this.#pos + length > this.#bytes.length) throw malformed('truncated');
    const data = Buffer.from(this.#bytes.subarray(this.#pos, this.#pos + length));
    this.#pos += length;
    return data;
  }

  optional(type: number): Buffer | undefined {
    return this.#bytes[this.#pos] === type ? this.field(type) : undefined;
  }

  optionalText(type: number): string | undefined {
    const data = this.optional(type);
    if (data === undefined) return undefined;
    const text = data.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(data)) throw malformed('location is not UTF-8');
    return text;
  }

  /** Unsigned LEB128, minimal encoding only, at most FIELD_BYTES_MAX. */
  #length(): number {
    let value = 0;
    for (let shift = 0; shift < 21; shift += 7) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (b === 0 && shift > 0) throw malformed('non-minimal length');
        if (value > FIELD_BYTES_MAX) throw malformed('field too long');
        return value;
      }
    }
    throw malformed('field too long');
  }
}
