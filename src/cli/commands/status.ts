/**
 * `aloft status`: an app's machines by process group and region, with the release each runs and
 * its checks. `aloft scale count N` adds or removes machines of a process group (in a region);
 * `aloft scale vm SIZE` resizes them one at a time, each running again before the next.
 */
import type { Command } from 'commander';
import { silentHostsRefusal, vmSizes } from '../../deploy/index.ts';
import { PlatformError, ValidationError, type Machine } from '../../lib/index.ts';
import type { ApiClient } from '../api-client.ts';
import { CliContext } from '../context.ts';
import { waitUntilRunning } from '../machine-health.ts';
import { out, printJson, printTable, success } from '../output.ts';
import { intOption, requireApp, stateWithHost } from './common.ts';

const live = (m: Machine): boolean => m.state !== 'destroyed' && m.state !== 'destroying';
const groupOf = (m: Machine): string => m.config.metadata.fly_process_group ?? 'app';
const releaseOf = (m: Machine): number => Number(m.config.metadata.fly_release_version ?? 0);

export function statusCommands(program: Command): void {
  program
    .command('status')
    .description("an app's machines by process group and region, with release and checks")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const machines = (await ctx.client().listMachines(app)).filter(live);
      machines.sort((a, b) => groupOf(a).localeCompare(groupOf(b)) || a.region.localeCompare(b.region) || a.id.localeCompare(b.id));
      if (ctx.options.json) {
        printJson({ app, machines: machines.map((m) => ({ id: m.id, group: groupOf(m), region: m.region, state: m.state, release: releaseOf(m), image: m.config.image, checks: m.checks, host: m.host_id, host_status: m.host_status })) });
        return;
      }
      out(`App ${app}: ${machines.length} machine${machines.length === 1 ? '' : 's'}\n`);
      printTable(
        ['ID', 'GROUP', 'REGION', 'STATE', 'RELEASE', 'CHECKS', 'IMAGE'],
        machines.map((m) => [m.id, groupOf(m), m.region, stateWithHost(m), releaseOf(m) === 0 ? '-' : `v${releaseOf(m)}`, checksSummary(m), m.config.image]),
      );
    });

  const scale = program.command('scale').description('change how many machines an app runs, or their size');
  scale
    .command('count <count>')
    .description('run COUNT machines of a process group (in a region, with --region)')
    .option('--region <code>', 'count and place machines in this region only')
    .option('--process-group <name>', 'the process group (default: the app has one, or "app")')
    .action(async (countText: string, opts: { region?: string; processGroup?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const count = intOption('count', countText)!;
      const client = ctx.client();
      const { group, machines } = await groupMachines(client, app, opts.processGroup);
      const here = machines.filter((m) => opts.region === undefined || m.region === opts.region);
      // Only a machine its host listed carries its config.
      const template = machines.filter((m) => m.host_status === 'ok').sort((a, b) => releaseOf(b) - releaseOf(a))[0];
      for (let n = here.length; n < count; n++) {
        if (template === undefined) {
          throw new PlatformError('no_config_to_copy', `the hosts of ${app}'s ${group} machines do not answer, so there is no config to copy for a new one`, {
            hint: 'add machines once one of those hosts answers (`aloft status` names them)',
          });
        }
        const created = await client.createMachine(app, { config: template.config, region: opts.region ?? template.region });
        await waitUntilRunning(client, app, { ...created, events: [] });
        success(`added ${created.id} (${group}, ${created.region})`);
      }
      // Stopped machines go first, then the newest: the longest-running stay.
      const surplus = [...here].sort((a, b) => Number(b.state === 'stopped') - Number(a.state === 'stopped') || b.created_at.localeCompare(a.created_at)).slice(0, Math.max(0, here.length - count));
      for (const machine of surplus) {
        await client.destroyMachine(app, machine.id, true);
        success(`removed ${machine.id} (${group}, ${machine.region})`);
      }
      if (ctx.options.json) printJson({ group, region: opts.region ?? null, count });
      else success(`${app} runs ${count} ${group} machine${count === 1 ? '' : 's'}${opts.region === undefined ? '' : ` in ${opts.region}`}`);
    });

  scale
    .command('vm <size>')
    .description(`resize a process group's machines: ${Object.keys(vmSizes).join(', ')}`)
    .option('--memory <mb>', 'memory in MB, instead of the size\'s default')
    .option('--process-group <name>', 'the process group (default: the app has one, or "app")')
    .action(async (size: string, opts: { memory?: string; processGroup?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const preset = vmSizes[size];
      if (preset === undefined) throw new ValidationError(`unknown vm size '${size}'`, { field: 'size', hint: `use one of: ${Object.keys(vmSizes).join(', ')}` });
      const memory = intOption('memory', opts.memory);
      const guest = { ...preset, ...(memory === undefined ? {} : { memory_mb: memory }) };
      const client = ctx.client();
      const { group, machines } = await groupMachines(client, app, opts.processGroup);
      const silent = silentHostsRefusal(app, machines, 'resized', 'resize again');
      if (silent !== undefined) throw new PlatformError('host_unreachable', silent.message, { hint: silent.hint, details: silent.details });
      for (const machine of machines) {
        const updated = await client.call<Machine>('POST', `/v1/apps/${app}/machines/${machine.id}`, { config: { ...machine.config, guest }, skip_launch: machine.state === 'stopped' });
        if (machine.state !== 'stopped') await waitUntilRunning(client, app, machine);
        success(`resized ${updated.id} to ${size} (${guest.cpus} cpu, ${guest.memory_mb} MB)`);
      }
      if (ctx.options.json) printJson({ group, size, guest, machines: machines.map((m) => m.id) });
    });
}

async function groupMachines(client: ApiClient, app: string, wanted: string | undefined): Promise<{ group: string; machines: Machine[] }> {
  const all = (await client.listMachines(app)).filter(live);
  const groups = [...new Set(all.map(groupOf))];
  const group = wanted ?? (groups.length === 1 ? groups[0]! : 'app');
  const machines = all.filter((m) => groupOf(m) === group);
  if (machines.length === 0) {
    throw new ValidationError(`app ${app} has no machines in process group '${group}'`, {
      field: 'process-group',
      hint: groups.length === 0 ? 'deploy the app first: aloft deploy' : `its groups are: ${groups.join(', ')}; pass --process-group`,
    });
  }
  return { group, machines };
}

function checksSummary(machine: Machine): string {
  if (machine.checks.length === 0) return '-';
  const passing = machine.checks.filter((c) => c.status === 'passing').length;
  return `${passing}/${machine.checks.length} passing`;
}
