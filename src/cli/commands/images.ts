import type { Command } from 'commander';
import { RegistryClient, importImage } from '../../registry/index.ts';
import { ValidationError } from '../../lib/index.ts';
import { CliContext } from '../context.ts';
import { printJson, progress, out } from '../output.ts';
import { imagesBootstrapCommand } from './images-bootstrap.ts';

/**
 * `NAME:TAG` → the repository in the caller's organization on the platform's registry, and the
 * full reference machines can run.
 */
export function imageTarget(tag: string, org: string, registryUrl: string): { repository: string; tag: string; reference: string } {
  const match = /^([a-z0-9][a-z0-9._/-]*?)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/.exec(tag);
  if (match === null) {
    throw new ValidationError(`bad image name '${tag}'`, { field: 'tag', hint: 'use NAME:TAG with lowercase letters, digits, ., _, - and /' });
  }
  const name = match[1]!;
  const repository = name.includes('/') ? name : `${org}/${name}`;
  const host = new URL(registryUrl).host;
  const t = match[2] ?? 'latest';
  return { repository, tag: t, reference: `${host}/${repository}:${t}` };
}

export function imagesCommands(program: Command): void {
  const images = program.command('images').description('import images into the platform\'s registry');
  images
    .command('import <path>')
    .description('push an OCI layout directory, a `docker save` tarball, or a root filesystem directory')
    .requiredOption('-t, --tag <name:tag>', 'name and tag to push as, e.g. hello:v1')
    .option('--org <slug>', 'organization', 'personal')
    .option('--cmd <command>', 'for a root filesystem: the command to run (split on spaces)')
    .option('--port <port>', 'for a root filesystem: the port it listens on')
    .action(async (path: string, opts: { tag: string; org: string; cmd?: string; port?: string }, cmd: Command) => {
      const ctx = new CliContext(cmd);
      const { token } = ctx.endpoints;
      const registry = await ctx.registryUrl();
      const target = imageTarget(opts.tag, opts.org, registry);
      const client = new RegistryClient({ url: registry, credentials: { password: token } });
      const done = progress(`importing ${path} as ${target.reference}`);
      try {
        const result = await importImage(client, path, {
          repository: target.repository,
          tag: target.tag,
          run: {
            ...(opts.cmd === undefined ? {} : { cmd: opts.cmd.split(' ') }),
            ...(opts.port === undefined ? {} : { exposedPorts: [Number(opts.port)] }),
          },
        });
        done(`pushed ${target.reference} (${result.kind}, ${result.digest})`);
        if (ctx.options.json) printJson({ ...result, reference: target.reference });
        else out(`${target.reference}\n`);
      } finally {
        await client.close();
      }
    });
  imagesBootstrapCommand(images);
}
