import type { Command } from 'commander';
import { CliContext } from '../context.ts';
import { printJson, printTable, success } from '../output.ts';
import { confirm, requireApp } from './common.ts';

export function appsCommands(program: Command): void {
  const apps = program.command('apps').description('create, list and destroy apps');

  apps
    .command('create [name]')
    .description('create an app')
    .option('--org <slug>', 'organization', 'personal')
    .action(async (name: string | undefined, opts: { org: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = await ctx.client().createApp(requireApp(name ?? ctx.options.app), opts.org);
      if (ctx.options.json) printJson(app);
      else success(`created app ${app.name} in organization ${app.organization.slug}`);
    });

  apps
    .command('list')
    .description('list apps')
    .option('--org <slug>', 'only this organization')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const { apps: list } = await ctx.client().listApps(opts.org);
      if (ctx.options.json) printJson(list);
      else printTable(['NAME', 'ORG', 'STATUS', 'MACHINES'], list.map((a) => [a.name, a.organization.slug, a.status, a.machine_count]));
    });

  apps
    .command('destroy [name]')
    .description('destroy an app and all its machines')
    .option('-y, --yes', 'do not ask (required when not interactive)')
    .action(async (name: string | undefined, opts: { yes?: boolean }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(name ?? ctx.options.app);
      await confirm(`Destroy app ${app} and all its machines?`, opts.yes === true);
      await ctx.client().destroyApp(app);
      if (ctx.options.json) printJson({ destroyed: app });
      else success(`destroyed app ${app}`);
    });
}
