/**
 * Whether one caveat permits one request. Pure: no keys, no clock reads, no I/O.
 *
 * A caveat that restricts a dimension the request does not name refuses it: a token limited to
 * app `web` cannot be used for an organization-wide call, and a registry-scoped token cannot be
 * used outside the registry. Failing closed this way is what keeps "more caveats" meaning
 * "fewer requests allowed".
 */
import type { Action, Caveat, RegistryAction } from './caveats.ts';

/** What a request wants to do. Registry calls also pass `action`: `read` to pull, `write` to push. */
export interface TokenRequest {
  org: string;
  app?: string;
  action: Action;
  machineId?: string;
  region?: string;
  repository?: string;
  registryAction?: RegistryAction;
  /** Epoch milliseconds, from the caller's injected Clock. */
  now: number;
}

/**
 * Why a caveat refused. `revoked` and `expired` make the whole token invalid (401); `refused`
 * means the token is fine but does not cover this request (403).
 */
export interface Refusal {
  kind: 'refused' | 'expired' | 'revoked';
  reason: string;
}

/** Shown in messages; a long list is cut so a hostile token cannot make a huge error. */
const LIST_SHOWN_MAX = 8;

export function refusal(
  caveat: Caveat,
  request: TokenRequest,
  isRevoked: (tokenId: string) => boolean,
): Refusal | undefined {
  switch (caveat.type) {
    case 'org':
      return request.org === caveat.org ? undefined : refused(`allows organization '${caveat.org}' only`);
    case 'apps':
      return inList(caveat.apps, request.app, 'apps', 'app');
    case 'actions':
      return inList(caveat.actions, request.action, 'actions', 'action');
    case 'machines':
      return inList(caveat.machines, request.machineId, 'machines', 'machine');
    case 'regions':
      return inList(caveat.regions, request.region, 'regions', 'region');
    case 'expires':
      // Written as `now <= notAfterMs` so that a NaN clock reading refuses instead of passing.
      return request.now <= caveat.notAfterMs
        ? undefined
        : { kind: 'expired', reason: `expired at ${new Date(caveat.notAfterMs).toISOString()}` };
    case 'registry':
      return (
        inList(caveat.repositories, request.repository, 'repositories', 'repository') ??
        inList(caveat.actions, request.registryAction, 'registry actions', 'registry action')
      );
    case 'token':
      return isRevoked(caveat.tokenId) ? { kind: 'revoked', reason: `token ${caveat.tokenId} was revoked` } : undefined;
  }
}

function inList(allowed: readonly string[], wanted: string | undefined, plural: string, singular: string): Refusal | undefined {
  if (wanted === undefined) return refused(`is limited to certain ${plural}, and the request names no ${singular}`);
  if (allowed.includes(wanted)) return undefined;
  return refused(`allows ${plural} ${show(allowed)}, not ${singular} '${wanted}'`);
}

function show(list: readonly string[]): string {
  if (list.length === 0) return '(none)';
  const shown = list.slice(0, LIST_SHOWN_MAX).join(', ');
  return list.length > LIST_SHOWN_MAX ? `${shown} and ${list.length - LIST_SHOWN_MAX} more` : shown;
}

function refused(reason: string): Refusal {
  return { kind: 'refused', reason };
}
