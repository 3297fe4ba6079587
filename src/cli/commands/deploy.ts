/**
 * `aloft deploy [DIR]`: read the app config (aloft.toml, or fly.toml as-is), build the image
 * (or take `--image` / `[build] image`), and roll it out as a new release. `aloft releases`
 * lists releases; `aloft releases rollback [VERSION]` deploys an earlier release's image and
 * config again as a new release.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { buildImage } from '../../build/index.ts';
import { AppConfigError, appConfigSchema, deployStrategies, findAppConfigFile, loadAppConfig, type AppConfig, type DeployStrategy } from '../../deploy/index.ts';
import { expandImageRef, parseOrThrow, ValidationError, type Release } from '../../lib/index.ts';
import type { AppView } from '../api-client.ts';
import { CliContext } from '../context.ts';
import { err, printJson, printTable, success } from '../output.ts';
import { abortedFailure, runRelease } from '../release-runner.ts';
import { parseBuildArgs, printBuildProgress } from './build.ts';
import { requireApp } from './common.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface DeployOptions {
  config?: string;
  image?: string;
  strategy?: string;
  buildArg: string[];
}

export function deployCommands(program: Command): void {
  program
    .command('deploy [dir]')
    .description('build and deploy the app in DIR (default .) as a new release')
    .option('-c, --config <file>', 'the app config (default: DIR/aloft.toml, else DIR/fly.toml)')
    .option('-i, --image <ref>', 'deploy this image instead of building')
    .option('--strategy <name>', `override [deploy] strategy: ${deployStrategies.join(', ')}`)
    .option('--build-arg <NAME=VALUE>', 'a build argument (repeatable)', collect, [])
    .action(async (dir: string | undefined, opts: DeployOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const source = resolve(dir ?? '.');
      const file = opts.config ?? (await findAppConfigFile(source));
      if (file === undefined) {
        throw new AppConfigError(`no aloft.toml or fly.toml in ${source}`, { file: source }, 'run `aloft launch` there to write one, or pass --config FILE');
      }
      await deploySource(ctx, {
        source,
        file,
        ...(opts.image === undefined ? {} : { image: opts.image }),
        ...(opts.strategy === undefined ? {} : { strategy: parseStrategy(opts.strategy) }),
        buildArgs: parseBuildArgs(opts.buildArg),
      });
    });

  const releases = program.command('releases').description("list an app's releases, or return to an earlier one");
  releases
    .command('list', { isDefault: true })
    .description('releases, newest first')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const { releases: list } = await ctx.client().call<{ releases: Release[] }>('GET', `/v1/apps/${app}/releases`);
      if (ctx.options.json) printJson(list);
      else
        printTable(
          ['VERSION', 'STATUS', 'IMAGE', 'STRATEGY', 'CREATED', 'NOTE'],
          list.map((r) => [`v${r.version}`, r.status, r.image, r.strategy, new Date(r.created_at).toISOString(), r.status === 'failed' ? String(r.failure?.error ?? '') : r.description]),
        );
    });

  releases
    .command('abort')
    .description('mark a release whose deploy was interrupted as failed, so the app can be deployed again')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const { releases: list } = await client.call<{ releases: Release[] }>('GET', `/v1/apps/${app}/releases`);
      const running = list.find((r) => r.status === 'running');
      if (running === undefined) throw new ValidationError(`no release of ${app} is being deployed`, { field: 'release', hint: 'see `aloft releases -a APP`' });
      const aborted = await client.call<Release>('POST', `/v1/apps/${app}/releases/${running.id}/finish`, { status: 'failed', failure: abortedFailure('by `aloft releases abort`') });
      if (ctx.options.json) printJson(aborted);
      else success(`release v${aborted.version} of ${app} marked failed; its machines are as the interrupted deploy left them (see aloft status)`);
    });

  releases
    .command('rollback [version]')
    .description('deploy an earlier release again (default: the complete one before the one running now)')
    .action(async (version: string | undefined, _opts: unknown, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const app = requireApp(ctx.options.app);
      const client = ctx.client();
      const { releases: list } = await client.call<{ releases: Release[] }>('GET', `/v1/apps/${app}/releases`);
      // What runs now is the newest complete release; the default goes one complete release further back.
      const complete = list.filter((r) => r.status === 'complete');
      const target = version === undefined ? complete[1] : await client.call<Release>('GET', `/v1/apps/${app}/releases/${encodeURIComponent(version)}`);
      if (target === undefined) {
        throw new ValidationError(`app ${app} has no earlier complete release to return to`, { field: 'version', hint: 'see `aloft releases -a APP` and name a version' });
      }
      const config: AppConfig = parseOrThrow(appConfigSchema, target.config, 'release.config');
      const { release } = await runRelease({ client, app, config, image: target.image, description: `rollback to v${target.version}` });
      if (ctx.options.json) printJson(release);
      else success(`release v${release.version} of ${app} runs v${target.version}'s image and config again`);
    });
}

function parseStrategy(value: string): DeployStrategy {
  if (!(deployStrategies as readonly string[]).includes(value)) {
    throw new ValidationError(`unknown strategy '${value}'`, { field: 'strategy', hint: `use one of: ${deployStrategies.join(', ')}` });
  }
  return value as DeployStrategy;
}

export interface DeploySourceOptions {
  /** The build context. */
  source: string;
  /** The app config file. */
  file: string;
  image?: string;
  strategy?: DeployStrategy;
  buildArgs?: Record<string, string>;
}

/** Reads the config, builds (or takes the image), and rolls the release out; prints the outcome. */
export async function deploySource(ctx: CliContext, opts: DeploySourceOptions): Promise<void> {
  const loaded = await loadAppConfig(opts.file);
  for (const warning of loaded.warnings) err(`${pc.yellow('warning:')} ${warning.message}\n`);
  for (const mount of loaded.config.mounts) {
    err(`${pc.yellow('warning:')} [mounts] ${mount.source} → ${mount.destination} is valid, but volumes are not available yet: what the app writes there is lost when a machine is updated\n`);
  }
  const config = { ...loaded.config, files: await Promise.all(loaded.config.files.map((f) => inlineLocalFile(f, opts.source))) };
  const app = requireApp(ctx.options.app ?? loaded.config.app);
  const client = ctx.client();
  const view = await client.call<AppView>('GET', `/v1/apps/${app}`);
  const endpoints = ctx.endpoints;
  const registryUrl = await ctx.registryUrl();
  const wanted = opts.image ?? loaded.config.build?.image;
  let image: string;
  if (wanted !== undefined) {
    image = expandImageRef(wanted, view.organization.slug, new URL(registryUrl).host);
  } else {
    const built = await buildImage({
      dir: opts.source,
      // A tag per deployment keeps every release's image pullable for a rollback.
      image: `${app}:deployment-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}`,
      org: view.organization.slug,
      registry: { url: registryUrl, token: endpoints.token },
      dataDir: ctx.options.dataDir,
      buildArgs: { ...loaded.config.build?.args, ...opts.buildArgs },
      ...(loaded.config.build?.dockerfile === undefined ? {} : { dockerfile: loaded.config.build.dockerfile }),
      ...(loaded.config.build?.['build-target'] === undefined ? {} : { target: loaded.config.build['build-target'] }),
      ...(loaded.config.build?.ignorefile === undefined ? {} : { ignorefile: loaded.config.build.ignorefile }),
      onProgress: printBuildProgress,
    });
    image = built.reference;
  }
  const { release, outcomes } = await runRelease({
    client,
    app,
    config,
    image,
    ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
    description: `deploy of ${opts.file}`,
  });
  if (ctx.options.json) printJson({ release, outcomes });
  else success(`release v${release.version} of ${app} is live (${outcomes.map((o) => `${o.group}: ${o.action}`).join(', ')})`);
}

/**
 * A `[[files]]` entry with `local_path` carries the file's content inline (base64, as the
 * Machines API takes it), so the release holds it and a rollback needs no source directory.
 */
async function inlineLocalFile(file: AppConfig['files'][number], source: string): Promise<AppConfig['files'][number]> {
  if (file.local_path === undefined) return file;
  const { local_path: localPath, ...rest } = file;
  let content: Buffer;
  try {
    content = await readFile(resolve(source, localPath));
  } catch {
    throw new AppConfigError(`[[files]] ${file.guest_path}: cannot read local_path ${localPath}`, { file: source, key: 'files.local_path' }, 'give a path relative to the app directory');
  }
  return { ...rest, raw_value: content.toString('base64') };
}
