/**
 * First-party caveats and their wire encoding.
 *
 * Each caveat identifier is UTF-8 JSON: `[version, type, body]`, e.g. `[1,"apps",["web"]]`.
 * Text keeps tokens readable by other macaroon libraries (they hand conditions to checkers as
 * strings) and by people debugging with `aloft tokens inspect`. The version lets a type's body
 * change later; a verifier that does not know a version or type refuses the token.
 */
import { ValidationError } from '../lib/index.ts';

export const ACTIONS = ['read', 'write', 'create', 'delete', 'deploy'] as const;
export type Action = (typeof ACTIONS)[number];

export const REGISTRY_ACTIONS = ['pull', 'push'] as const;
export type RegistryAction = (typeof REGISTRY_ACTIONS)[number];

/** Every caveat narrows what the token allows; none can grant anything. */
export type Caveat =
  | { type: 'org'; org: string }
  | { type: 'apps'; apps: string[] }
  | { type: 'actions'; actions: Action[] }
  | { type: 'machines'; machines: string[] }
  | { type: 'regions'; regions: string[] }
  /** Refuses once the clock passes `notAfterMs` (Unix epoch milliseconds). */
  | { type: 'expires'; notAfterMs: number }
  | { type: 'registry'; repositories: string[]; actions: RegistryAction[] }
  /** A revocable id for a derived token; the minted token's own id is in the identifier. */
  | { type: 'token'; tokenId: string };

export type CaveatType = Caveat['type'];

export const CAVEAT_VERSION = 1;
export const NAME_CHARS_MAX = 256;
export const LIST_ITEMS_MAX = 256;

export function encodeCaveat(caveat: Caveat): Buffer {
  // Validating on the way out too means a bad caveat fails when written, not when first used.
  const body = caveatBody(caveat);
  return Buffer.from(JSON.stringify([CAVEAT_VERSION, caveat.type, body]), 'utf8');
}

/** Parses one caveat identifier; throws a ValidationError naming what is wrong. */
export function decodeCaveat(identifier: Buffer): Caveat {
  const text = identifier.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError('caveat is not JSON');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw new ValidationError('caveat is not [version, type, body]');
  const [version, type, body] = parsed as [unknown, unknown, unknown];
  if (version !== CAVEAT_VERSION) throw new ValidationError(`caveat version ${String(version)} is not supported`);
  if (typeof type !== 'string') throw new ValidationError('caveat type is not a string');
  const caveat = caveatFromBody(type, body);
  // Re-encoding must give the same bytes; otherwise two verifiers could read one caveat differently
  // (duplicate keys, odd number forms), which is how parser-differential bugs start.
  if (!encodeCaveat(caveat).equals(identifier)) throw new ValidationError(`caveat '${type}' is not in canonical form`);
  return caveat;
}

function caveatBody(c: Caveat): unknown {
  switch (c.type) {
    case 'org':
      return name(c.org, 'org');
    case 'apps':
      return names(c.apps, 'apps');
    case 'actions':
      return members(c.actions, ACTIONS, 'actions');
    case 'machines':
      return names(c.machines, 'machines');
    case 'regions':
      return names(c.regions, 'regions');
    case 'expires':
      if (!Number.isSafeInteger(c.notAfterMs) || c.notAfterMs < 0) {
        throw new ValidationError('expires.notAfterMs must be a non-negative integer of epoch milliseconds');
      }
      return c.notAfterMs;
    case 'registry':
      return {
        repositories: names(c.repositories, 'registry.repositories'),
        actions: members(c.actions, REGISTRY_ACTIONS, 'registry.actions'),
      };
    case 'token':
      return name(c.tokenId, 'token');
    default:
      throw new ValidationError(`unknown caveat type '${(c as { type: unknown }).type}'`);
  }
}

function caveatFromBody(type: string, body: unknown): Caveat {
  switch (type) {
    case 'org':
      return { type, org: name(body, 'org') };
    case 'apps':
      return { type, apps: names(body, 'apps') };
    case 'actions':
      return { type, actions: members(body, ACTIONS, 'actions') };
    case 'machines':
      return { type, machines: names(body, 'machines') };
    case 'regions':
      return { type, regions: names(body, 'regions') };
    case 'expires':
      if (typeof body !== 'number') throw new ValidationError('expires body is not a number');
      return { type, notAfterMs: body };
    case 'registry': {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError('registry body is not an object');
      }
      const b = body as Record<string, unknown>;
      return {
        type,
        repositories: names(b.repositories, 'registry.repositories'),
        actions: members(b.actions, REGISTRY_ACTIONS, 'registry.actions'),
      };
    }
    case 'token':
      return { type, tokenId: name(body, 'token') };
    default:
      throw new ValidationError(`unknown caveat type '${type.slice(0, NAME_CHARS_MAX)}'`);
  }
}

function name(v: unknown, field: string): string {
  // Control characters are refused so names print safely in messages and logs.
  if (typeof v !== 'string' || v.length === 0 || v.length > NAME_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new ValidationError(`${field} must be a printable string of 1 to ${NAME_CHARS_MAX} characters`, { field });
  }
  return v;
}

/** An empty list is allowed and permits nothing: it is what intersecting disjoint lists yields. */
function names(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length > LIST_ITEMS_MAX) {
    throw new ValidationError(`${field} must be a list of at most ${LIST_ITEMS_MAX} names`, { field });
  }
  return v.map((item) => name(item, field));
}

function members<T extends string>(v: unknown, allowed: readonly T[], field: string): T[] {
  const list = names(v, field);
  for (const item of list) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new ValidationError(`${field}: '${item}' is not one of ${allowed.join(', ')}`, { field });
    }
  }
  return list as T[];
}
