/**
 * The `.internal` name space, as a pure parser: which question a name asks, before anything is
 * looked up. Labels are compared lowercased (DNS names are case-insensitive).
 */

/** The zone this server is authoritative for. */
export const internalZone = 'internal';

/** The largest N accepted in `top<N>.nearest.of.<app>.internal`. */
export const nearestCountMax = 64;

export type InternalName =
  | { kind: 'apex' }
  | { kind: 'apps' }
  | { kind: 'instances' }
  | { kind: 'app'; app: string }
  | { kind: 'region'; app: string; region: string }
  | { kind: 'nearest'; app: string; count: number }
  | { kind: 'machine'; app: string; machineId: string }
  | { kind: 'process-group'; app: string; group: string }
  | { kind: 'regions-txt'; app: string }
  | { kind: 'vms-txt'; app: string }
  /** A name with no records of its own that exists because names below it do (`vm.<app>.internal`). */
  | { kind: 'app-interior'; app: string }
  | { kind: 'none' };

/** Whether a (dot-separated, no trailing dot) name is in `.internal`. */
export function isInternal(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === internalZone || lower.endsWith(`.${internalZone}`);
}

/** What an `.internal` name asks for; `none` for a name that cannot exist in any organization. */
export function parseInternalName(name: string): InternalName {
  const labels = name.toLowerCase().split('.');
  if (labels.pop() !== internalZone || labels.some((l) => l === '')) return { kind: 'none' };
  const [first, second, third, fourth] = labels;
  switch (labels.length) {
    case 0:
      return { kind: 'apex' };
    case 1:
      if (first === '_apps') return { kind: 'apps' };
      if (first === '_instances') return { kind: 'instances' };
      return { kind: 'app', app: first! };
    case 2:
      return parseUnderApp(first!, second!);
    case 3:
      if (second === 'vm') return { kind: 'machine', app: third!, machineId: first! };
      if (second === 'process') return { kind: 'process-group', app: third!, group: first! };
      if (first === 'nearest' && second === 'of') return { kind: 'app-interior', app: third! };
      return { kind: 'none' };
    case 4: {
      if (second !== 'nearest' || third !== 'of') return { kind: 'none' };
      const count = /^top([1-9][0-9]{0,2})$/.exec(first!);
      if (count === null || Number(count[1]) > nearestCountMax) return { kind: 'none' };
      return { kind: 'nearest', app: fourth!, count: Number(count[1]) };
    }
    default:
      return { kind: 'none' };
  }
}

/** `<label>.<app>.internal`: the keywords first, any other label is a region. */
function parseUnderApp(label: string, app: string): InternalName {
  switch (label) {
    case 'global':
      return { kind: 'app', app };
    case 'regions':
      return { kind: 'regions-txt', app };
    case 'vms':
      return { kind: 'vms-txt', app };
    case 'vm':
    case 'process':
    case 'of':
      return { kind: 'app-interior', app };
    default:
      return { kind: 'region', app, region: label };
  }
}
