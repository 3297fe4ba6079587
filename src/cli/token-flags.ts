/**
 * The caveat flags `aloft tokens create` and `aloft tokens attenuate` share, turned into the
 * caveats a token gets: `--app` (the global option, repeatable), `--actions read,write`,
 * `--expires 1h`, `--machine` and `--region` (repeatable), `--registry pull|push` with `--repository`.
 */
import type { Command } from 'commander';
import { ValidationError } from '../lib/index.ts';
import { ACTIONS, type Action, type Caveat, type RegistryAction } from '../tokens/index.ts';

export interface CaveatFlags {
  /** From the global `-a/--app`, which commander parses wherever it appears. */
  app: string[];
  actions?: string;
  expires?: string;
  machine: string[];
  region: string[];
  registry?: string;
  repository: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addCaveatFlags(cmd: Command): Command {
  return cmd
    .addHelpText('after', '\nLimit to apps with the global -a/--app APP (repeat it for several).')
    .option('--actions <list>', `only these actions, comma-separated: ${ACTIONS.join(', ')}`)
    .option('--expires <duration>', 'expire after this long, e.g. 30m, 1h, 7d')
    .option('--machine <id>', 'only this machine (repeat for several)', collect, [])
    .option('--region <code>', 'only this region (repeat for several)', collect, [])
    .option('--registry <access>', 'only the registry: pull, or push (which includes pull)')
    .option('--repository <org/name>', 'registry repositories (default: <org>/<app> for each --app)', collect, []);
}

/** The caveats the flags ask for; `org` names the default registry repositories. */
export function caveatsOf(flags: CaveatFlags, org: string, nowMs: number): Caveat[] {
  const caveats: Caveat[] = [];
  if (flags.app.length > 0) caveats.push({ type: 'apps', apps: flags.app });
  const actions = actionsOf(flags.actions);
  if (actions !== undefined) caveats.push({ type: 'actions', actions });
  if (flags.machine.length > 0) caveats.push({ type: 'machines', machines: flags.machine });
  if (flags.region.length > 0) caveats.push({ type: 'regions', regions: flags.region });
  const registry = registryOf(flags, org);
  if (registry !== undefined) caveats.push(registry);
  if (flags.expires !== undefined) caveats.push({ type: 'expires', notAfterMs: nowMs + durationMs(flags.expires) });
  return caveats;
}

function actionsOf(list: string | undefined): Action[] | undefined {
  if (list === undefined) return undefined;
  const actions = list.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of actions) {
    if (!(ACTIONS as readonly string[]).includes(a)) {
      throw new ValidationError(`--actions: '${a}' is not an action`, { field: 'actions', hint: `use some of ${ACTIONS.join(', ')}` });
    }
  }
  if (actions.length === 0) throw new ValidationError('--actions is empty', { field: 'actions', hint: `use some of ${ACTIONS.join(', ')}` });
  return actions as Action[];
}

function registryOf(flags: CaveatFlags, org: string): Caveat | undefined {
  if (flags.registry === undefined) {
    if (flags.repository.length > 0) throw new ValidationError('--repository needs --registry pull|push', { field: 'registry' });
    return undefined;
  }
  if (flags.registry !== 'pull' && flags.registry !== 'push') {
    throw new ValidationError(`--registry must be pull or push, not '${flags.registry}'`, { field: 'registry' });
  }
  const repositories = flags.repository.length > 0 ? flags.repository : flags.app.map((app) => `${org}/${app}`);
  if (repositories.length === 0) {
    throw new ValidationError('--registry needs repositories', { field: 'repository', hint: 'pass --repository org/name, or --app (its repository is <org>/<app>)' });
  }
  // Pushing clients read blobs and manifests too, so push includes pull.
  const actions: RegistryAction[] = flags.registry === 'push' ? ['pull', 'push'] : ['pull'];
  return { type: 'registry', repositories, actions };
}

const durationUnitsMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function durationMs(text: string): number {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (match === null) throw new ValidationError(`--expires must be a duration such as 30m, 1h or 7d, not '${text}'`, { field: 'expires' });
  const ms = Number(match[1]) * durationUnitsMs[match[2]!]!;
  if (ms <= 0) throw new ValidationError('--expires must be longer than zero', { field: 'expires' });
  return ms;
}
