import type { Command } from 'commander';
import { AloftError, TimeoutError, sleep } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { printJson, printTable, progress, success, out } from '../output.ts';
import { confirm, intOption, requireApp } from './common.ts';

interface CertificateView {
  hostname: string;
  app_name: string;
  status: 'pending' | 'ready' | 'failed';
  source: string;
  expires_at: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

const pollMs = 500;

export function certsCommands(program: Command): void {
  const certs = program.command('certs').description("TLS certificates for an app's own hostnames (ACME)");
  const path = (app: string, hostname?: string): string => `/v1/apps/${app}/certificates${hostname === undefined ? '' : `/${encodeURIComponent(hostname)}`}`;

  certs
    .command('add <hostname>')
    .description('obtain a certificate for a hostname that points at the platform, and serve it')
    .option('-d, --detach', 'return once requested, without waiting for the certificate')
    .option('--wait-timeout <seconds>', 'how long to wait for the certificate', '120')
    .action(async (hostname: string, opts: { detach?: boolean; waitTimeout: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      let cert = await client.call<CertificateView>('POST', path(app), { hostname });
      if (opts.detach !== true) {
        const done = ctx.options.json ? undefined : progress(`obtaining a certificate for ${cert.hostname}`);
        const deadline = performance.now() + (intOption('wait-timeout', opts.waitTimeout) ?? 120) * 1000;
        while (cert.status === 'pending') {
          if (performance.now() > deadline) {
            throw new TimeoutError(`the certificate for ${cert.hostname} is still pending after ${opts.waitTimeout}s`, {
              hint: `it keeps going in the background; check with \`aloft certs show ${cert.hostname} -a ${app}\``,
            });
          }
          await sleep(pollMs);
          cert = await client.call<CertificateView>('GET', path(app, cert.hostname));
        }
        if (cert.status === 'failed') {
          throw new AloftError('acme_failed', 'config', `no certificate for ${cert.hostname}: ${cert.error ?? 'the ACME server refused'}`, {
            hint: `make ${cert.hostname} resolve to the platform's proxies with port 80 open, then run \`aloft certs add ${cert.hostname} -a ${app}\` again`,
          });
        }
        done?.(`certificate for ${cert.hostname} issued`);
      }
      if (ctx.options.json) printJson(cert);
      else if (cert.status === 'ready') success(`${cert.hostname} is served over TLS (expires ${cert.expires_at ?? '?'})`);
      else success(`requested a certificate for ${cert.hostname}; see \`aloft certs show ${cert.hostname} -a ${app}\``);
    });

  certs
    .command('list')
    .description("list the app's certificates")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const list = await ctx.client().call<CertificateView[]>('GET', path(requireApp(ctx.options.app)));
      if (ctx.options.json) printJson(list);
      else printTable(['HOSTNAME', 'STATUS', 'EXPIRES', 'ADDED'], list.map((c) => [c.hostname, c.status, c.expires_at ?? '', c.created_at]));
    });

  certs
    .command('show <hostname>')
    .description("show a certificate's status (and why it failed)")
    .action(async (hostname: string, _opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const c = await ctx.client().call<CertificateView>('GET', path(requireApp(ctx.options.app), hostname));
      if (ctx.options.json) printJson(c);
      else {
        const lines = [`Hostname  ${c.hostname}`, `App       ${c.app_name}`, `Status    ${c.status}`, `Source    ${c.source}`, `Expires   ${c.expires_at ?? '-'}`, `Updated   ${c.updated_at}`];
        if (c.error !== null) lines.push(`Error     ${c.error}`);
        out(`${lines.join('\n')}\n`);
      }
    });

  certs
    .command('remove <hostname>')
    .alias('delete')
    .description('stop serving a certificate and forget it')
    .option('-y, --yes', 'do not ask (required when not interactive)')
    .action(async (hostname: string, opts: { yes?: boolean }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      await confirm(`Remove the certificate for ${hostname}?`, opts.yes === true);
      await ctx.client().call('DELETE', path(app, hostname));
      if (ctx.options.json) printJson({ removed: hostname });
      else success(`removed the certificate for ${hostname}`);
    });
}
