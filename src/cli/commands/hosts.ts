import type { Command } from 'commander';
import { CliContext } from '../context.ts';
import { out, printJson, printTable, progress, success } from '../output.ts';

interface HostListing {
  id: string;
  region: string;
  reachable: boolean;
  error?: string;
  capacity?: { cpus: number; memory_mb: number };
  used?: { cpus: number; memory_mb: number };
  cordoned?: boolean;
  machines: number;
}

interface DrainResult {
  host: string;
  moved: Array<{ machine: string; name: string; app: string; to_machine: string; to_host: string }>;
  failed: Array<{ machine: string; app: string; error: string; code: string }>;
}

/** `aloft hosts list|cordon|uncordon|drain`: the operator's view of the fleet's hosts. */
export function hostsCommands(program: Command): void {
  const hosts = program.command('hosts').description('the fleet’s hosts, for operators: list, cordon, uncordon, drain');

  hosts
    .command('list')
    .description('every host: region, capacity and use, machines, cordoned, reachable')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const list = await ctx.client().call<HostListing[]>('GET', '/v1/hosts');
      if (ctx.options.json) {
        printJson(list);
        return;
      }
      const share = (used: number | undefined, cap: number | undefined, unit: string): string => (cap === undefined ? '?' : `${used ?? 0}/${cap}${unit}`);
      printTable(
        ['HOST', 'REGION', 'CPUS', 'MEMORY', 'MACHINES', 'CORDONED', 'REACHABLE'],
        list.map((h) => [
          h.id,
          h.region,
          share(h.used?.cpus, h.capacity?.cpus, ''),
          share(h.used?.memory_mb, h.capacity?.memory_mb, ' MB'),
          h.machines,
          h.cordoned === undefined ? '?' : h.cordoned ? 'yes' : 'no',
          h.reachable ? 'yes' : `NO (${h.error ?? 'unknown'})`,
        ]),
      );
    });

  for (const verb of ['cordon', 'uncordon'] as const) {
    hosts
      .command(`${verb} <host>`)
      .description(verb === 'cordon' ? 'take no new machines on the host; its machines keep running' : 'let the host take new machines again')
      .action(async (host: string, _opts: unknown, cmd: Command) => {
        const ctx = new CliContext(cmd);
        const result = await ctx.client().call<{ id: string; cordoned: boolean }>('POST', `/v1/hosts/${encodeURIComponent(host)}/${verb}`, {});
        if (ctx.options.json) printJson(result);
        else success(`${result.id} is ${result.cordoned ? 'cordoned: it takes no new machines' : 'uncordoned: it takes new machines'}`);
      });
  }

  hosts
    .command('drain <host>')
    .description('cordon the host, then move each of its machines to another host of its region (re-created there, then destroyed here)')
    .action(async (host: string, _opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const done = progress(`draining ${host}`);
      // A drain moves machines one by one; give it time.
      const result = await ctx.client().call<DrainResult>('POST', `/v1/hosts/${encodeURIComponent(host)}/drain`, {}, 30 * 60_000);
      done(`${host} is cordoned; ${result.moved.length} machines moved, ${result.failed.length} stayed`);
      if (ctx.options.json) {
        printJson(result);
        return;
      }
      for (const m of result.moved) out(`  ${m.app}/${m.name}: ${m.machine} → ${m.to_machine} on ${m.to_host}\n`);
      for (const f of result.failed) out(`  ${f.app}: ${f.machine} stayed: ${f.error}\n`);
    });
}
