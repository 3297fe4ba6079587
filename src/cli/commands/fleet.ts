import { resolve } from 'node:path';
import type { Command } from 'commander';
import { fleetDown, fleetUp, isFleetProcess, readFleet } from '../../fleet/index.ts';
import { CliContext } from '../context.ts';
import { intOption } from './common.ts';
import { out, printJson, printTable, progress, success } from '../output.ts';

interface FleetUpOptions {
  regions: string;
  hostsPerRegion: string;
  driver: 'auto' | 'oci' | 'process';
  domain: string;
  subnet: string;
  network: 'auto' | 'netns' | 'loopback';
}

export function fleetCommands(program: Command): void {
  const fleet = program.command('fleet').description('a multi-region fleet on this computer: a control host and hosts per region');

  fleet
    .command('up')
    .description('start a control host (API, registry) and hosts in each region, in the background')
    .option('--regions <codes>', 'comma-separated region codes', 'ams,iad,syd')
    .option('--hosts-per-region <n>', 'hosts in each region', '2')
    .option('--driver <name>', 'machine runtime: auto, oci (runc, root) or process (no isolation)', 'auto')
    .option('--domain <domain>', 'apps are served at <app>.<domain>', 'aloft.localhost')
    .option('--subnet <n>', 'second octet of the fleet addresses: 127.N.R.H on loopback, 10.N.R.H as root', '77')
    .option('--network <mode>', 'netns (root: a namespace per host, WireGuard mesh, inter-region delay), loopback (processes on 127.N.R.H), or auto', 'auto')
    .action(async (opts: FleetUpOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const done = progress('starting the fleet');
      const endpoints = await fleetUp({
        dataDir: ctx.options.dataDir,
        regions: opts.regions.split(',').map((r) => r.trim()).filter((r) => r !== ''),
        hostsPerRegion: intOption('hosts-per-region', opts.hostsPerRegion)!,
        driver: opts.driver,
        domain: opts.domain,
        subnet: intOption('subnet', opts.subnet)!,
        network: opts.network,
      });
      done(`fleet is up: ${endpoints.hosts.length} hosts`);
      if (ctx.options.json) {
        printJson({ ...endpoints, token: undefined });
        return;
      }
      out(`API       ${endpoints.api}\nRegistry  ${endpoints.registry}\nRuntime   ${endpoints.driver}: ${endpoints.isolation}\nNetwork   ${endpoints.network}${endpoints.anycast === undefined ? '' : ` (anycast ${endpoints.anycast})`}\n`);
      printTable(
        ['host', 'region', 'address', 'proxy', 'dns', 'state'],
        endpoints.hosts.map((h) => [h.id, h.region, h.address, h.proxy, h.dns, h.state]),
      );
      out(`written to ${ctx.options.dataDir}/endpoints.json; stop with \`aloft fleet down\`\n`);
    });

  fleet
    .command('down')
    .description('stop every host (and its machines) and the control host, and remove what they made')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const ended = await fleetDown(ctx.options.dataDir);
      success(ended === 0 ? 'no fleet was running here' : `fleet is down (${ended} processes ended)`);
    });

  fleet
    .command('status')
    .description('the fleet’s hosts and whether their processes are running')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const record = readFleet(ctx.options.dataDir);
      const dir = resolve(ctx.options.dataDir);
      const hosts = (record?.hosts ?? []).map((h) => ({ id: h.id, region: h.region, address: h.address, proxy: h.proxy, running: isFleetProcess(h.pid, dir) }));
      const control = record?.control === undefined ? undefined : { api: record.control.api, running: isFleetProcess(record.control.pid, dir) };
      if (ctx.options.json) {
        printJson({ running: record !== undefined, control, hosts });
        return;
      }
      if (record === undefined) {
        out(`no fleet in ${ctx.options.dataDir}; start one with \`aloft fleet up\`\n`);
        return;
      }
      out(`control   ${control?.api ?? '-'} ${control?.running === true ? 'running' : 'DOWN'}\n`);
      printTable(['host', 'region', 'address', 'proxy', 'process'], hosts.map((h) => [h.id, h.region, h.address, h.proxy, h.running ? 'running' : 'DOWN']));
    });
}
