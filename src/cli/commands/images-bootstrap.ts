/**
 * `aloft images bootstrap debian`: makes the base images builds start from, with no public
 * container registry: `<org>/debian:bookworm` (debootstrap, cached) and `<org>/node:24`.
 */
import type { Command } from 'commander';
import { bootstrapDebian } from '../../build/index.ts';
import { ValidationError } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { out, printJson, success } from '../output.ts';
import { printBuildProgress } from './build.ts';

export function imagesBootstrapCommand(images: Command): void {
  images
    .command('bootstrap <distro>')
    .description('make the base images debian:bookworm and node:24 with debootstrap (root) and push them')
    .option('--org <slug>', 'organization', 'personal')
    .option('--cache-dir <dir>', 'where the debootstrap result is kept between runs (default: $ALOFT_CACHE_DIR or ~/.cache/aloft)')
    .action(async (distro: string, opts: { org: string; cacheDir?: string }, cmd: Command) => {
      if (distro !== 'debian') throw new ValidationError(`cannot bootstrap '${distro}'`, { field: 'distro', hint: 'only `aloft images bootstrap debian` exists' });
      const ctx = new CliContext(cmd);
      const { token } = ctx.endpoints;
      const registry = await ctx.registryUrl();
      const result = await bootstrapDebian({
        registry: { url: registry, token },
        dataDir: ctx.options.dataDir,
        org: opts.org,
        ...(opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir }),
        onProgress: printBuildProgress,
      });
      const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
      const t = result.timingsMs;
      success(`debootstrap ${result.debootstrapped ? seconds(t.debootstrap) : 'cached'}, debian ${seconds(t.debian)}, node ${seconds(t.node)}`);
      if (ctx.options.json) printJson(result);
      else out(`${result.debian.reference}\n${result.node.reference}\n`);
    });
}
