/**
 * `aloft launch [DIR]`: from a source directory to a served app in one command. It detects the
 * app (a Dockerfile, or a Node.js app), asks for a name and a region (defaults offered; `--yes`
 * takes them all, for scripts), writes `aloft.toml`, creates the app, and deploys it. A
 * directory that already has a config keeps it: the app is created from it and deployed.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { detectSource } from '../../build/index.ts';
import { appNamePattern, findAppConfigFile, loadAppConfig } from '../../deploy/index.ts';
import { AloftError, ValidationError } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { err, success } from '../output.ts';
import { deploySource } from './deploy.ts';

interface LaunchOptions {
  name?: string;
  region?: string;
  org: string;
  yes?: boolean;
  deploy: boolean;
}

export function launchCommand(program: Command): void {
  program
    .command('launch [dir]')
    .description('detect the app in DIR (default .), write aloft.toml, create the app and deploy it')
    .option('--name <app>', 'app name (default: from package.json or the directory)')
    .option('--region <code>', 'primary region (default: the platform\'s)')
    .option('--org <slug>', 'organization', 'personal')
    .option('-y, --yes', 'accept every default without asking')
    .option('--no-deploy', 'write the config and create the app, but do not deploy')
    .action(async (dir: string | undefined, opts: LaunchOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const source = resolve(dir ?? '.');
      const ask = await prompter(opts.yes === true);
      const existing = await findAppConfigFile(source);
      let app: string;
      let write: { path: string; text: string } | undefined;
      if (existing !== undefined) {
        err(`using the existing ${existing}\n`);
        app = opts.name ?? (await loadAppConfig(existing)).config.app ?? (await ask('App name', defaultName(source)));
      } else {
        const detected = await detectSource(source);
        success(`detected ${detected.kind === 'node' ? 'a Node.js app' : 'a Dockerfile'}, serving port ${detected.port}`);
        app = opts.name ?? (await ask('App name', sanitize(detected.name)));
        const region = opts.region ?? (await ask('Primary region', (ctx.endpoints as { region?: string }).region ?? 'dev'));
        write = { path: join(source, 'aloft.toml'), text: configText(app, region, detected.port, detected.kind) };
      }
      if (!appNamePattern.test(app)) {
        throw new ValidationError(`'${app}' is not a valid app name`, { field: 'name', hint: 'use lowercase letters, digits and dashes, starting with a letter' });
      }
      // The app is created before the config is written, so a taken name leaves no file behind.
      const client = ctx.client();
      try {
        await client.createApp(app, opts.org);
        success(`created app ${app}`);
      } catch (error) {
        if (!(error instanceof AloftError && error.code === 'app_exists')) throw error;
        throw new AloftError('app_exists', 'user', `an app named '${app}' already exists`, {
          hint: `deploy to it with \`aloft deploy ${dir ?? '.'}\` if it is yours, or launch under another name with --name`,
        });
      }
      if (write !== undefined) {
        await writeFile(write.path, write.text, { flag: 'wx' });
        success(`wrote ${write.path}`);
      }
      const file = write?.path ?? existing!;
      ctx.options.app = app;
      if (opts.deploy) await deploySource(ctx, { source, file });
      else success(`not deployed; deploy with: aloft deploy ${dir ?? '.'}`);
    });
}

function configText(app: string, region: string, port: number, kind: 'dockerfile' | 'node'): string {
  return `# aloft.toml for ${app}, written by aloft launch. The keys are fly.toml's.
app = '${app}'
primary_region = '${region}'

[build]

[http_service]
  internal_port = ${port}
  force_https = false
  auto_stop_machines = 'stop'
  auto_start_machines = true
  min_machines_running = 0

[[vm]]
  memory = '${kind === 'node' ? '512mb' : '256mb'}'
  cpu_kind = 'shared'
  cpus = 1
`;
}

function defaultName(dir: string): string {
  return sanitize(dir.split('/').pop() ?? 'app');
}

/** A valid app name from any text: lowercase, dashes for the rest, starting with a letter. */
function sanitize(text: string): string {
  const name = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 63);
  return name.length >= 2 ? name : `app-${name}`.replace(/-$/, '');
}

/** Asks on a terminal with a default; with `--yes` takes the default; without a terminal, asks for `--yes`. */
async function prompter(yes: boolean): Promise<(question: string, fallback: string) => Promise<string>> {
  if (yes) return async (_question, fallback) => fallback;
  if (!process.stdin.isTTY) {
    return async (question) => {
      throw new ValidationError(`launch needs an answer to '${question}' and there is no terminal to ask on`, { field: 'yes', hint: 'pass --yes to take the defaults, or give --name and --region' });
    };
  }
  const { createInterface } = await import('node:readline/promises');
  return async (question, fallback) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = (await rl.question(`${question} [${fallback}]: `)).trim();
    rl.close();
    return answer === '' ? fallback : answer;
  };
}
