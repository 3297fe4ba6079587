/**
 * One line per caveat for people (`aloft auth whoami`, `aloft tokens list`). Display only:
 * nothing here decides access.
 */
import type { Caveat } from './caveats.ts';
import type { UnreadableCaveat } from './inspect.ts';

export function describeCaveat(caveat: Caveat | UnreadableCaveat): string {
  switch (caveat.type) {
    case 'org':
      return `organization ${caveat.org}`;
    case 'apps':
      return `apps ${list(caveat.apps)}`;
    case 'actions':
      return `actions ${list(caveat.actions)}`;
    case 'machines':
      return `machines ${list(caveat.machines)}`;
    case 'regions':
      return `regions ${list(caveat.regions)}`;
    case 'expires':
      return `expires ${new Date(caveat.notAfterMs).toISOString()}`;
    case 'registry':
      return `registry ${list(caveat.actions)} on ${list(caveat.repositories)}`;
    case 'token':
      return `revocable as ${caveat.tokenId}`;
    case 'unreadable':
      return `unreadable caveat (${caveat.problem})`;
  }
}

function list(items: readonly string[]): string {
  return items.length === 0 ? '(none)' : items.join(',');
}
