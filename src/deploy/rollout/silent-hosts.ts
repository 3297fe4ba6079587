/**
 * Machines whose hosts did not answer the listing (host_status not 'ok') are listed from what was
 * last known, without their config: a change to their group can neither include them nor leave
 * them out without splitting it, so it is refused before anything changes, naming the hosts.
 */
import type { Machine } from '../../lib/index.ts';

export interface SilentHostsRefusal {
  message: string;
  hint: string;
  details: { hosts: string[]; machines: string[] };
}

/** Why `machines` cannot all be changed (`cannotBe`: "updated", "resized"), or undefined when every host answered. */
export function silentHostsRefusal(app: string, machines: readonly Machine[], cannotBe: string, retry: string): SilentHostsRefusal | undefined {
  const cutOff = machines.filter((m) => m.host_status !== 'ok');
  if (cutOff.length === 0) return undefined;
  const hosts = [...new Set(cutOff.map((m) => m.host_id))];
  const ids = cutOff.map((m) => m.id);
  return {
    message: `${hosts.map((h) => `the agent of host ${h}`).join(' and ')} did not answer, so ${app}'s machine${ids.length === 1 ? '' : 's'} ${ids.join(', ')} cannot be ${cannotBe}; no machine was changed`,
    hint: `a fault of the platform on host ${hosts.join(', ')}, not your app: ${retry} once it answers (see \`aloft hosts list\`)`,
    details: { hosts, machines: ids },
  };
}
