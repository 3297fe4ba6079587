/**
 * `aloft build [DIR] --image NAME:TAG`: builds a directory with buildah (its Dockerfile, or one
 * generated for a Node.js app) and pushes it to the platform's registry. Steps and their output
 * stream to stderr as they happen; stdout gets the pushed reference (or JSON), so scripts can
 * capture it. A failed build exits with its fault's code and shows the failing step's output.
 */
import type { Command } from 'commander';
import pc from 'picocolors';
import { buildImage, type BootstrapProgress } from '../../build/index.ts';
import { ValidationError } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { err, out, printJson, success } from '../output.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface BuildOptions {
  image: string;
  dockerfile?: string;
  buildArg: string[];
  org: string;
}

/** Prints build and bootstrap progress: steps bold, tool output dimmed and indented. */
export function printBuildProgress(event: BootstrapProgress): void {
  switch (event.kind) {
    case 'phase':
      err(`${pc.cyan('==>')} ${event.text}\n`);
      return;
    case 'step':
      err(`${pc.bold(`STEP ${event.step}/${event.steps}:`)} ${event.text}\n`);
      return;
    case 'push':
      err(`${pc.cyan('==>')} pushing ${event.reference}\n`);
      return;
    case 'output':
      // buildah echoes each STEP line itself; the bold one above already said it.
      if (!/^(?:\[\d+\/\d+\] )?STEP \d+\/\d+: /.test(event.line)) err(`${pc.dim(`  ${event.line}`)}\n`);
  }
}

/** `K=V` → [K, V]; a bare `K` takes its value from this environment, as docker build does. */
export function parseBuildArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new ValidationError(`bad --build-arg '${arg}'`, { field: 'build-arg', hint: 'use --build-arg NAME=VALUE' });
    const value = eq < 0 ? process.env[key] : arg.slice(eq + 1);
    if (value === undefined) throw new ValidationError(`--build-arg ${key} has no value and ${key} is not set here`, { field: 'build-arg', hint: `use --build-arg ${key}=VALUE` });
    out[key] = value;
  }
  return out;
}

export function buildCommand(program: Command): void {
  program
    .command('build [dir]')
    .description('build an image from a directory (its Dockerfile, or a detected Node.js app) and push it to the registry')
    .requiredOption('-i, --image <name:tag>', 'name and tag to push as, e.g. web:v1')
    .option('-f, --dockerfile <path>', 'the Dockerfile to use (default: DIR/Dockerfile)')
    .option('--build-arg <NAME=VALUE>', 'a build argument (repeatable)', collect, [])
    .option('--org <slug>', 'organization', 'personal')
    .action(async (dir: string | undefined, opts: BuildOptions, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const { token } = ctx.endpoints;
      const registry = await ctx.registryUrl();
      const built = await buildImage({
        dir: dir ?? '.',
        image: opts.image,
        org: opts.org,
        registry: { url: registry, token },
        dataDir: ctx.options.dataDir,
        buildArgs: parseBuildArgs(opts.buildArg),
        ...(opts.dockerfile === undefined ? {} : { dockerfile: opts.dockerfile }),
        onProgress: printBuildProgress,
      });
      success(`pushed ${built.reference}@${built.digest}${built.generated ? ' (Dockerfile generated for a Node.js app)' : ''}`);
      if (ctx.options.json) printJson(built);
      else out(`${built.reference}\n`);
    });
}
