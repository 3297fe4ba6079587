import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import pc from 'picocolors';
import { LocalPlatform, defaultPorts, deployExample } from '../../fleet/index.ts';
import { createLogger } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { intOption } from './common.ts';
import { progress, out, err } from '../output.ts';
import { printBuildProgress } from './build.ts';

interface UpOptions {
  bind: string;
  apiPort: string;
  proxyPort: string;
  registryPort: string;
  agentPort: string;
  tlsPort: string;
  acmeDirectory?: string;
  acmeCa?: string;
  acmeEmail?: string;
  region: string;
  domain: string;
  driver: 'auto' | 'oci' | 'process';
  example?: boolean;
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('run a whole platform on this computer (API, registry, agent, proxy) until Ctrl-C')
    .option('--bind <address>', 'address every role listens on', '127.0.0.1')
    .option('--api-port <port>', 'Machines API port', String(defaultPorts.api))
    .option('--proxy-port <port>', 'HTTP edge proxy port', String(defaultPorts.proxy))
    .option('--registry-port <port>', 'image registry port', String(defaultPorts.registry))
    .option('--agent-port <port>', 'host agent port (loopback only)', String(defaultPorts.agent))
    .option('--tls-port <port>', 'HTTPS port of the edge proxy (public port 443)', String(defaultPorts.tls))
    .option('--acme-directory <url>', 'ACME directory for `aloft certs add`, e.g. https://acme-v02.api.letsencrypt.org/directory')
    .option('--acme-ca <file>', "PEM file of a CA to trust for the ACME server's HTTPS (a private ACME server)")
    .option('--acme-email <address>', 'contact address for the ACME account')
    .option('--region <code>', 'region name of this host', 'dev')
    .option('--domain <domain>', 'apps are served at <app>.<domain>', 'aloft.localhost')
    .option('--driver <name>', 'machine runtime: auto, oci (runc, root) or process (no isolation)', 'auto')
    .option('--example', 'also build and serve the example app `hello`')
    .action(async (opts: UpOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const platform = new LocalPlatform({
        dataDir: ctx.options.dataDir,
        bindHost: opts.bind,
        ports: {
          api: intOption('api-port', opts.apiPort)!,
          proxy: intOption('proxy-port', opts.proxyPort)!,
          registry: intOption('registry-port', opts.registryPort)!,
          agent: intOption('agent-port', opts.agentPort)!,
          tls: intOption('tls-port', opts.tlsPort)!,
        },
        ...(opts.acmeDirectory === undefined
          ? {}
          : {
              acme: {
                directoryUrl: opts.acmeDirectory,
                ...(opts.acmeEmail === undefined ? {} : { email: opts.acmeEmail }),
                ...(opts.acmeCa === undefined ? {} : { caPem: readFileSync(opts.acmeCa, 'utf8') }),
              },
            }),
        region: opts.region,
        domain: opts.domain,
        driver: opts.driver,
        logger: createLogger('aloft', { level: process.env.ALOFT_LOG_LEVEL ?? 'warn' }),
      });
      const stopping = new Promise<void>((resolve) => {
        const stop = (): void => {
          err('\nstopping: machines are stopped and will start again with the next `aloft up`\n');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      const booted = progress('starting the platform');
      let endpoints;
      try {
        endpoints = await platform.start();
      } catch (err) {
        await platform.stop().catch(() => undefined);
        throw err;
      }
      booted('platform is up');
      const lines = [
        `${pc.bold('API')}       ${endpoints.api}`,
        `${pc.bold('Proxy')}     ${endpoints.proxy}   (apps at http://<app>.${endpoints.domain}:${new URL(endpoints.proxy).port}/)`,
        ...(endpoints.tls === undefined ? [] : [`${pc.bold('TLS')}       ${endpoints.tls}   (https://<app>.${endpoints.domain}:${new URL(endpoints.tls).port}/, trust ${endpoints.ca_cert ?? 'the internal CA'})`]),
        `${pc.bold('Registry')}  ${endpoints.registry}`,
        `${pc.bold('Token')}     ${endpoints.token}`,
        `${pc.bold('Runtime')}   ${endpoints.driver}: ${endpoints.isolation}`,
        `${pc.dim(`written to ${ctx.options.dataDir}/endpoints.json; the aloft command reads it from there`)}`,
      ];
      out(`${lines.join('\n')}\n`);
      if (opts.example === true) {
        const deploying = progress('building and starting the example app');
        const { machine, url } = await deployExample(endpoints, { dataDir: ctx.options.dataDir, onProgress: printBuildProgress });
        deploying(`example app is served by machine ${machine.id}`);
        out(`\n  curl ${url}\n  ${pc.dim(`(or: curl -H 'Host: hello.${endpoints.domain}' ${endpoints.proxy}/)`)}\n\n`);
      }
      out(`${pc.dim('Ctrl-C to stop')}\n`);
      await stopping;
      await platform.stop();
    });
}
